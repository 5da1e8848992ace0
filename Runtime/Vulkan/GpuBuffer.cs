namespace VkDiffusion.Runtime.Vulkan;

/// <summary>Where a buffer lives: device-local for tensors, host-visible for staging and per-step scalars.</summary>
public enum MemoryKind
{
    DeviceLocal,
    HostVisible,
}

/// <summary>
/// A sub-allocation of a device memory block. Disposing it returns the range to the allocator once no
/// submitted work can still use it.
/// </summary>
public sealed class GpuBuffer : IDisposable
{
    internal GpuBuffer(GpuMemory memory, MemoryBlock block, long blockOffset, long byteLength, string name)
    {
        Memory = memory;
        Block = block;
        BlockOffset = blockOffset;
        ByteLength = byteLength;
        Name = name;
    }

    internal GpuMemory Memory { get; }
    internal MemoryBlock Block { get; }
    internal long BlockOffset { get; }
    public long ByteLength { get; }
    public string Name { get; }
    public bool IsDisposed { get; private set; }
    public bool IsHostVisible => Block.MappedPointer != 0;

    public BufferSlice Whole => new(this, 0, ByteLength);

    public BufferSlice Slice(long byteOffset, long byteLength) => Whole.Slice(byteOffset, byteLength);

    /// <summary>A slice of <paramref name="count"/> elements of <typeparamref name="T"/> starting at element <paramref name="start"/>.</summary>
    public unsafe BufferSlice Elements<T>(long start, long count) where T : unmanaged => Slice(start * sizeof(T), count * sizeof(T));

    public void Dispose()
    {
        if (IsDisposed) return;
        IsDisposed = true;
        Memory.Free(this);
    }

    public override string ToString() => $"{Name} ({ByteLength} bytes)";
}

/// <summary>A byte range of a <see cref="GpuBuffer"/>: what a kernel binds, reads and writes.</summary>
public readonly record struct BufferSlice(GpuBuffer Buffer, long Offset, long Length)
{
    public BufferSlice Slice(long byteOffset, long byteLength)
    {
        if (byteOffset < 0 || byteLength < 0 || byteOffset + byteLength > Length)
            throw new ArgumentOutOfRangeException(nameof(byteOffset),
                $"slice [{byteOffset}, {byteOffset + byteLength}) is outside {Buffer.Name}'s range of {Length} bytes");
        return new BufferSlice(Buffer, Offset + byteOffset, byteLength);
    }

    public unsafe BufferSlice Elements<T>(long start, long count) where T : unmanaged => Slice(start * sizeof(T), count * sizeof(T));

    /// <summary>Offset from the start of the underlying VkBuffer (the whole memory block).</summary>
    internal long AbsoluteOffset => Buffer.BlockOffset + Offset;

    public override string ToString() => $"{Buffer.Name}[{Offset}..{Offset + Length})";
}
