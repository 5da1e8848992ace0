using System.Text;

namespace VkDiffusion.Trainer.Export;

/// <summary>ggml element types a GGUF tensor can have here, by their numbers in ggml.h.</summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    BF16 = 30,
}

/// <summary>
/// One tensor of a GGUF file: its name, ggml dimensions (fastest-varying first), and its data: ByteLength little-endian
/// bytes that WriteData writes when the file is written.
/// </summary>
public sealed record GgufTensor(string Name, GgmlType Type, long[] Dimensions, long ByteLength, Action<Stream> WriteData);

/// <summary>
/// The GGUF container, version 3, as llama.cpp reads it: magic, version, tensor and key-value counts, the key-value
/// metadata, one info record per tensor (name, dimensions, type, data offset), then the data section with every
/// tensor aligned to 32 bytes (the default of general.alignment). All numbers little-endian.
/// </summary>
public sealed class GgufWriter
{
    private const uint Version = 3;
    private const int Alignment = 32;

    // Value types of a metadata entry (gguf_type in gguf.h).
    private const uint TypeUInt32 = 4, TypeInt32 = 5, TypeFloat32 = 6, TypeBool = 7, TypeString = 8, TypeArray = 9;

    private readonly List<(string Key, Action<BinaryWriter> WriteValue)> metadata = [];
    private readonly List<GgufTensor> tensors = [];

    public void Add(string key, uint value) => metadata.Add((key, writer => { writer.Write(TypeUInt32); writer.Write(value); }));

    public void Add(string key, float value) => metadata.Add((key, writer => { writer.Write(TypeFloat32); writer.Write(value); }));

    public void Add(string key, bool value) => metadata.Add((key, writer => { writer.Write(TypeBool); writer.Write(value ? (byte)1 : (byte)0); }));

    public void Add(string key, string value) => metadata.Add((key, writer => { writer.Write(TypeString); WriteString(writer, value); }));

    public void Add(string key, IReadOnlyList<string> values) => metadata.Add((key, writer =>
    {
        WriteArrayHeader(writer, TypeString, values.Count);
        foreach (string value in values) WriteString(writer, value);
    }));

    public void Add(string key, IReadOnlyList<int> values) => metadata.Add((key, writer =>
    {
        WriteArrayHeader(writer, TypeInt32, values.Count);
        foreach (int value in values) writer.Write(value);
    }));

    public void Add(GgufTensor tensor) => tensors.Add(tensor);

    public void Write(Stream stream)
    {
        using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        writer.Write("GGUF"u8);
        writer.Write(Version);
        writer.Write((ulong)tensors.Count);
        writer.Write((ulong)metadata.Count);
        foreach (var (key, writeValue) in metadata)
        {
            WriteString(writer, key);
            writeValue(writer);
        }
        long offset = 0;
        foreach (GgufTensor tensor in tensors)
        {
            WriteString(writer, tensor.Name);
            writer.Write((uint)tensor.Dimensions.Length);
            foreach (long dimension in tensor.Dimensions) writer.Write((ulong)dimension);
            writer.Write((uint)tensor.Type);
            writer.Write((ulong)offset);
            offset = AlignUp(offset + tensor.ByteLength);
        }
        writer.Flush();
        Pad(writer, stream.Position);
        foreach (GgufTensor tensor in tensors)
        {
            writer.Flush();
            long start = stream.Position;
            tensor.WriteData(stream);
            if (stream.Position - start != tensor.ByteLength)
                throw new InvalidOperationException($"{tensor.Name}: wrote {stream.Position - start} bytes, its header says {tensor.ByteLength}");
            Pad(writer, tensor.ByteLength);
        }
    }

    private static long AlignUp(long value) => (value + Alignment - 1) / Alignment * Alignment;

    private static void Pad(BinaryWriter writer, long length) => writer.Write(new byte[AlignUp(length) - length]);

    private static void WriteArrayHeader(BinaryWriter writer, uint elementType, int count)
    {
        writer.Write(TypeArray);
        writer.Write(elementType);
        writer.Write((ulong)count);
    }

    /// <summary>A GGUF string: its UTF-8 byte count as 64 bits, then the bytes, no terminator.</summary>
    private static void WriteString(BinaryWriter writer, string value)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        writer.Write((ulong)bytes.Length);
        writer.Write(bytes);
    }
}
