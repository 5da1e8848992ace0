using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Trainer.Checkpoints;

namespace VkDiffusion.Tests.Checkpoints;

public sealed class SafeTensorsTests
{
    private static readonly float[] Weights = [1.5f, -2.25f, 3e-8f, float.MaxValue, 0f, -0f];

    private static IReadOnlyList<SafeTensorEntry> SampleTensors() =>
    [
        SafeTensorEntry.FromArray("model.embed_tokens.weight", Weights, 3, 2),
        SafeTensorEntry.FromArray("ids", new[] { int.MinValue, -1, 7 }, 3),
        SafeTensorEntry.FromArray("step", new[] { 1234567890123L }), // a scalar: shape []
        SafeTensorEntry.FromArray("mask", new byte[] { 0, 1, 255 }, 3),
        SafeTensorEntry.FromArray("tokens16", new ushort[] { 50256, 0 }, 1, 2),
        SafeTensorEntry.FromArray("tokens32", new uint[] { uint.MaxValue }, 1),
        SafeTensorEntry.FromArray("empty", Array.Empty<float>(), 0, 4),
        SafeTensorEntry.FromBytes("bf16", SafeTensorDType.BF16, new byte[] { 0x80, 0x3F, 0x00, 0xC0 }, 2), // 1.0, -2.0
    ];

    private static readonly Dictionary<string, string> Metadata = new() { ["step"] = "12", ["model_config"] = "{\"d_model\": 128}" };

    private static byte[] WriteToBytes(IReadOnlyList<SafeTensorEntry> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var stream = new MemoryStream();
        SafeTensors.Write(stream, tensors, metadata);
        return stream.ToArray();
    }

    [Fact]
    public void Round_trip_keeps_every_dtype_shape_value_and_metadata()
    {
        using var temp = new TemporaryDirectory();
        string path = temp.Write("w.safetensors", WriteToBytes(SampleTensors(), Metadata));
        using var file = SafeTensors.Open(path);
        Assert.Equal(Weights, file.Read<float>("model.embed_tokens.weight"));
        Assert.Equal([3L, 2L], file.Info("model.embed_tokens.weight").Shape);
        Assert.Equal([int.MinValue, -1, 7], file.Read<int>("ids"));
        Assert.Equal([1234567890123L], file.Read<long>("step"));
        Assert.Empty(file.Info("step").Shape);
        Assert.Equal([0, 1, 255], file.Read<byte>("mask"));
        Assert.Equal([50256, 0], file.Read<ushort>("tokens16"));
        Assert.Equal([uint.MaxValue], file.Read<uint>("tokens32"));
        Assert.Empty(file.Read<float>("empty"));
        Assert.Equal([0x3F80, 0xC000], file.Read<ushort>("bf16"));
        Assert.Equal(Metadata, file.Metadata);
        Assert.Throws<InvalidInputException>(() => file.Read<float>("ids"));
        Assert.Throws<InvalidInputException>(() => file.Info("missing"));
    }

    [Fact]
    public void Written_bytes_follow_the_format_specification()
    {
        // Decode the file by hand from the specification, independently of the reader.
        byte[] bytes = WriteToBytes(SampleTensors(), Metadata);
        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, (8 + headerLength) % 8); // header padded so the data section is 8-byte aligned
        using var header = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, (int)headerLength));
        Assert.Equal("12", header.RootElement.GetProperty("__metadata__").GetProperty("step").GetString());
        JsonElement embed = header.RootElement.GetProperty("model.embed_tokens.weight");
        Assert.Equal("F32", embed.GetProperty("dtype").GetString());
        Assert.Equal([3, 2], embed.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        int begin = embed.GetProperty("data_offsets")[0].GetInt32(), end = embed.GetProperty("data_offsets")[1].GetInt32();
        Assert.Equal(24, end - begin);
        var values = new float[6];
        for (int i = 0; i < 6; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan((int)(8 + headerLength) + begin + 4 * i));
        Assert.Equal(Weights, values);
        Assert.Equal("BF16", header.RootElement.GetProperty("bf16").GetProperty("dtype").GetString());
        Assert.Equal("U16", header.RootElement.GetProperty("tokens16").GetProperty("dtype").GetString());
    }

    [Fact]
    public void Reads_a_hand_written_file()
    {
        // As another tool (e.g. Python's safetensors) would write it: unpadded header, tensors in reverse order.
        string header = "{\"b\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[8,12]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        var bytes = new List<byte>();
        bytes.AddRange(BitConverter.GetBytes((ulong)header.Length));
        bytes.AddRange(Encoding.UTF8.GetBytes(header));
        bytes.AddRange(BitConverter.GetBytes(0.5f));
        bytes.AddRange(BitConverter.GetBytes(-4f));
        bytes.AddRange(BitConverter.GetBytes(99));
        using var temp = new TemporaryDirectory();
        using var file = SafeTensors.Open(temp.Write("h.safetensors", bytes.ToArray()));
        Assert.Equal([0.5f, -4f], file.Read<float>("a"));
        Assert.Equal([99], file.Read<int>("b"));
        Assert.Empty(file.Metadata);
    }

    [Theory]
    [InlineData(1)]   // last data byte missing
    [InlineData(20)]  // a whole tensor missing
    public void Truncated_data_is_a_clear_error(int missingBytes)
    {
        using var temp = new TemporaryDirectory();
        byte[] bytes = WriteToBytes(SampleTensors(), Metadata);
        var error = Assert.Throws<InvalidInputException>(() => SafeTensors.Open(temp.Write("t.safetensors", bytes[..^missingBytes])));
        Assert.Contains("truncated", error.Message);
        Assert.Contains("t.safetensors", error.Message);
    }

    [Theory]
    [InlineData(5)]    // not even the length field
    [InlineData(40)]   // inside the header
    public void Truncated_header_is_a_clear_error(int keptBytes)
    {
        using var temp = new TemporaryDirectory();
        byte[] bytes = WriteToBytes(SampleTensors(), Metadata);
        Assert.Contains("truncated", Assert.Throws<InvalidInputException>(() => SafeTensors.Open(temp.Write("t.safetensors", bytes[..keptBytes]))).Message);
    }

    public static TheoryData<string, string> CorruptHeaders() => new()
    {
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]", "not valid JSON" },
        { "[1,2,3]", "does not start with '{'" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", "needs 12" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", "overlaps" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", "gap" },
        { "{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", "dtype Q4" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", "non-negative" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", "begin <= end" },
        { "{\"__metadata__\":{\"step\":3},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "not a string" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "duplicate" },
    };

    [Theory]
    [MemberData(nameof(CorruptHeaders))]
    public void Corrupt_header_is_a_clear_error(string header, string problem)
    {
        var bytes = new List<byte>();
        bytes.AddRange(BitConverter.GetBytes((ulong)header.Length));
        bytes.AddRange(Encoding.UTF8.GetBytes(header));
        bytes.AddRange(new byte[8]); // 8 data bytes
        using var temp = new TemporaryDirectory();
        var error = Assert.Throws<InvalidInputException>(() => SafeTensors.Open(temp.Write("c.safetensors", bytes.ToArray())));
        Assert.Contains(problem, error.Message);
        Assert.Contains("c.safetensors", error.Message);
    }

    [Fact]
    public void Absurd_header_length_is_corrupt_not_an_allocation()
    {
        byte[] bytes = [.. BitConverter.GetBytes(ulong.MaxValue - 3), .. "{}"u8];
        using var temp = new TemporaryDirectory();
        Assert.Contains("corrupt", Assert.Throws<InvalidInputException>(() => SafeTensors.Open(temp.Write("x.safetensors", bytes))).Message);
    }

    [Fact]
    public void Writer_refuses_mismatched_data_and_duplicate_names()
    {
        Assert.Throws<ArgumentException>(() => SafeTensorEntry.FromArray("a", new float[5], 2, 3));
        Assert.Throws<ArgumentException>(() => WriteToBytes([SafeTensorEntry.FromArray("a", new float[1], 1), SafeTensorEntry.FromArray("a", new float[1], 1)], null));
        var shortDeferred = SafeTensorEntry.Deferred("d", SafeTensorDType.F32, [2], stream => stream.Write(new byte[4]));
        Assert.Throws<InvalidOperationException>(() => WriteToBytes([shortDeferred], null));
    }

    [Fact]
    public void Deferred_tensors_are_written_when_the_file_is()
    {
        int calls = 0;
        var deferred = SafeTensorEntry.Deferred("d", SafeTensorDType.I32, [2], stream =>
        {
            calls++;
            stream.Write(BitConverter.GetBytes(5));
            stream.Write(BitConverter.GetBytes(6));
        });
        Assert.Equal(0, calls);
        using var temp = new TemporaryDirectory();
        using var file = SafeTensors.Open(temp.Write("d.safetensors", WriteToBytes([deferred], null)));
        Assert.Equal(1, calls);
        Assert.Equal([5, 6], file.Read<int>("d"));
    }
}
