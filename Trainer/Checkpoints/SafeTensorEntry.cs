using System.Runtime.InteropServices;

namespace VkDiffusion.Trainer.Checkpoints;

/// <summary>
/// A tensor to write: name, dtype, shape and how to produce its little-endian bytes. The bytes may be produced
/// lazily (Deferred) so a trainer can download one tensor at a time from the GPU while the file is written.
/// </summary>
public sealed class SafeTensorEntry
{
    private readonly Action<Stream> writeData;

    private SafeTensorEntry(string name, SafeTensorDType dtype, long[] shape, Action<Stream> writeData)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name == SafeTensors.MetadataKey) throw new ArgumentException($"'{SafeTensors.MetadataKey}' is reserved for metadata", nameof(name));
        if (shape.Any(dimension => dimension < 0)) throw new ArgumentException($"negative dimension in shape [{string.Join(", ", shape)}] of {name}");
        Name = name;
        DType = dtype;
        Shape = shape;
        ByteLength = checked(shape.Aggregate(1L, (product, dimension) => checked(product * dimension)) * SafeTensorDTypes.ElementSize(dtype));
        this.writeData = writeData;
    }

    public string Name { get; }
    public SafeTensorDType DType { get; }
    public IReadOnlyList<long> Shape { get; }
    public long ByteLength { get; }

    /// <summary>A tensor from an array whose element count matches the shape (a scalar has shape []).</summary>
    public static SafeTensorEntry FromArray<T>(string name, T[] values, params long[] shape) where T : unmanaged
    {
        var entry = new SafeTensorEntry(name, SafeTensorDTypes.For<T>(), shape, stream => stream.Write(MemoryMarshal.AsBytes(values.AsSpan())));
        CheckLength(entry, (long)values.Length * SafeTensorDTypes.ElementSize(entry.DType));
        return entry;
    }

    /// <summary>A tensor from raw little-endian bytes (e.g. BF16 data).</summary>
    public static SafeTensorEntry FromBytes(string name, SafeTensorDType dtype, ReadOnlyMemory<byte> bytes, params long[] shape)
    {
        var entry = new SafeTensorEntry(name, dtype, shape, stream => stream.Write(bytes.Span));
        CheckLength(entry, bytes.Length);
        return entry;
    }

    /// <summary>A tensor whose bytes `writeData` writes when the file is written; it must write exactly ByteLength bytes.</summary>
    public static SafeTensorEntry Deferred(string name, SafeTensorDType dtype, long[] shape, Action<Stream> writeData) =>
        new(name, dtype, shape, writeData);

    internal void WriteData(Stream stream) => writeData(stream);

    private static void CheckLength(SafeTensorEntry entry, long byteCount)
    {
        if (byteCount != entry.ByteLength)
            throw new ArgumentException($"{entry.Name}: {byteCount} bytes of data for shape [{string.Join(", ", entry.Shape)}] {entry.DType}, which needs {entry.ByteLength}");
    }
}

/// <summary>A tensor as the header of a file describes it; offsets are relative to the start of the data section.</summary>
public sealed record SafeTensorInfo(string Name, SafeTensorDType DType, IReadOnlyList<long> Shape, long DataBegin, long DataEnd)
{
    public long ElementCount => Shape.Aggregate(1L, (product, dimension) => product * dimension);
    public long ByteLength => DataEnd - DataBegin;
}
