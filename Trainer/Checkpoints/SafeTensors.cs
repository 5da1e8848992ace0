using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Checkpoints;

/// <summary>
/// The safetensors format (docs/checkpoints.md): an 8-byte little-endian header length N, N bytes of UTF-8 JSON
/// {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {string: string}} (padded with spaces
/// to a multiple of 8 so the data is aligned), then the tensors' raw little-endian bytes. Offsets are relative to
/// the data section; tensors cover it exactly, without gaps or overlaps, as the reference implementation requires.
/// </summary>
public static class SafeTensors
{
    public const string MetadataKey = "__metadata__";

    /// <summary>The reference implementation refuses headers above 100 MB; so do we, which also bounds a corrupt length.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    static SafeTensors()
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors I/O assumes a little-endian machine.");
    }

    /// <summary>Writes the tensors in the given order, after a header that also carries the string metadata.</summary>
    public static void Write(Stream stream, IReadOnlyList<SafeTensorEntry> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        byte[] header = EncodeHeader(tensors, metadata);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        stream.Write(length);
        stream.Write(header);
        foreach (SafeTensorEntry tensor in tensors)
        {
            var counter = new CountingStream(stream);
            tensor.WriteData(counter);
            if (counter.BytesWritten != tensor.ByteLength)
                throw new InvalidOperationException($"{tensor.Name}: wrote {counter.BytesWritten} bytes, its shape and dtype need {tensor.ByteLength}");
        }
    }

    public static SafeTensorsFile Open(string path) => SafeTensorsFile.Open(path);

    private static byte[] EncodeHeader(IReadOnlyList<SafeTensorEntry> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                writer.WriteStartObject(MetadataKey);
                foreach (var (key, value) in metadata) writer.WriteString(key, value);
                writer.WriteEndObject();
            }
            var names = new HashSet<string>(StringComparer.Ordinal);
            long offset = 0;
            foreach (SafeTensorEntry tensor in tensors)
            {
                if (!names.Add(tensor.Name)) throw new ArgumentException($"duplicate tensor name '{tensor.Name}'");
                writer.WriteStartObject(tensor.Name);
                writer.WriteString("dtype", SafeTensorDTypes.HeaderName(tensor.DType));
                writer.WriteStartArray("shape");
                foreach (long dimension in tensor.Shape) writer.WriteNumberValue(dimension);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset + tensor.ByteLength);
                writer.WriteEndArray();
                writer.WriteEndObject();
                offset += tensor.ByteLength;
            }
            writer.WriteEndObject();
        }
        int padding = (int)((8 - json.Length % 8) % 8);
        for (int i = 0; i < padding; i++) json.WriteByte((byte)' ');
        return json.ToArray();
    }

    /// <summary>
    /// Parses and checks a header against the data section's length; every problem is an InvalidInputException
    /// naming the file (`what`) and saying what is wrong.
    /// </summary>
    internal static (IReadOnlyDictionary<string, SafeTensorInfo> Tensors, IReadOnlyDictionary<string, string> Metadata) ParseHeader(
        ReadOnlySpan<byte> header, long dataLength, string what)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header.ToArray());
        }
        catch (JsonException error)
        {
            throw new InvalidInputException($"{what}: corrupt safetensors header (not valid JSON: {error.Message}).", error);
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object) throw Corrupt(what, "the header is not a JSON object");
            var tensors = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            bool sawMetadata = false;
            foreach (JsonProperty property in document.RootElement.EnumerateObject())
            {
                if (property.Name == MetadataKey)
                {
                    if (sawMetadata) throw Corrupt(what, $"duplicate {MetadataKey}");
                    sawMetadata = true;
                    ParseMetadata(property.Value, metadata, what);
                    continue;
                }
                SafeTensorInfo info = ParseTensor(property.Name, property.Value, what);
                if (!tensors.TryAdd(info.Name, info)) throw Corrupt(what, $"duplicate tensor '{info.Name}'");
            }
            CheckLayout(tensors.Values, dataLength, what);
            return (tensors, metadata);
        }
    }

    private static void ParseMetadata(JsonElement element, Dictionary<string, string> metadata, string what)
    {
        if (element.ValueKind != JsonValueKind.Object) throw Corrupt(what, $"{MetadataKey} is not an object");
        foreach (JsonProperty entry in element.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String) throw Corrupt(what, $"metadata '{entry.Name}' is not a string");
            if (!metadata.TryAdd(entry.Name, entry.Value.GetString()!)) throw Corrupt(what, $"duplicate metadata key '{entry.Name}'");
        }
    }

    private static SafeTensorInfo ParseTensor(string name, JsonElement element, string what)
    {
        if (element.ValueKind != JsonValueKind.Object) throw Corrupt(what, $"tensor '{name}' is not an object");
        if (!element.TryGetProperty("dtype", out JsonElement dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw Corrupt(what, $"tensor '{name}' has no dtype");
        if (!SafeTensorDTypes.TryParse(dtypeElement.GetString()!, out SafeTensorDType dtype))
            throw new InvalidInputException($"{what}: tensor '{name}' has dtype {dtypeElement.GetString()}, which VkDiffusion does not read ({string.Join(", ", Enum.GetNames<SafeTensorDType>())}).");
        long[] shape = ReadIntegers(element, "shape", name, what);
        long[] offsets = ReadIntegers(element, "data_offsets", name, what);
        if (offsets.Length != 2 || offsets[0] > offsets[1]) throw Corrupt(what, $"tensor '{name}' has data_offsets [{string.Join(", ", offsets)}], not [begin, end] with begin <= end");
        long expectedBytes;
        try
        {
            expectedBytes = checked(shape.Aggregate(1L, (product, dimension) => checked(product * dimension)) * SafeTensorDTypes.ElementSize(dtype));
        }
        catch (OverflowException)
        {
            throw Corrupt(what, $"tensor '{name}' has an impossibly large shape [{string.Join(", ", shape)}]");
        }
        if (offsets[1] - offsets[0] != expectedBytes)
            throw Corrupt(what, $"tensor '{name}' spans {offsets[1] - offsets[0]} bytes, but shape [{string.Join(", ", shape)}] of {dtype} needs {expectedBytes}");
        return new SafeTensorInfo(name, dtype, shape, offsets[0], offsets[1]);
    }

    private static long[] ReadIntegers(JsonElement tensor, string field, string name, string what)
    {
        if (!tensor.TryGetProperty(field, out JsonElement array) || array.ValueKind != JsonValueKind.Array)
            throw Corrupt(what, $"tensor '{name}' has no {field} array");
        var values = new List<long>();
        foreach (JsonElement item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long value) || value < 0)
                throw Corrupt(what, $"tensor '{name}': {field} holds {item.GetRawText()}, not a non-negative integer");
            values.Add(value);
        }
        return values.ToArray();
    }

    /// <summary>Tensors must tile the data section exactly: sorted by begin, each starts where the previous ended.</summary>
    private static void CheckLayout(IEnumerable<SafeTensorInfo> tensors, long dataLength, string what)
    {
        long expectedBegin = 0;
        foreach (SafeTensorInfo tensor in tensors.OrderBy(t => t.DataBegin).ThenBy(t => t.DataEnd))
        {
            if (tensor.DataEnd > dataLength)
                throw new InvalidInputException(
                    $"{what}: truncated safetensors file: tensor '{tensor.Name}' needs data bytes up to {tensor.DataEnd}, the file holds {dataLength}.");
            if (tensor.DataBegin < expectedBegin) throw Corrupt(what, $"tensor '{tensor.Name}' overlaps the tensor before it (begins at {tensor.DataBegin}, expected {expectedBegin})");
            if (tensor.DataBegin > expectedBegin) throw Corrupt(what, $"a gap of unused bytes [{expectedBegin}, {tensor.DataBegin}) before tensor '{tensor.Name}'");
            expectedBegin = tensor.DataEnd;
        }
        if (expectedBegin != dataLength) throw Corrupt(what, $"{dataLength - expectedBegin} bytes after the last tensor that no tensor describes");
    }

    internal static InvalidInputException Corrupt(string what, string problem) => new($"{what}: corrupt safetensors file: {problem}.");

    /// <summary>Passes writes through and counts them, so a Deferred tensor writing the wrong size is caught.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        public long BytesWritten { get; private set; }
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            BytesWritten += buffer.Length;
        }
    }
}
