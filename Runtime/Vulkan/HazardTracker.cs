namespace VkDiffusion.Runtime.Vulkan;

/// <summary>
/// Decides where a command list needs a barrier: a command must wait when it reads or writes a byte
/// range that an earlier, not yet synchronised command wrote (read-after-write, write-after-write), or
/// writes a range such a command read (write-after-read). Independent commands get no barrier.
/// </summary>
internal sealed class HazardTracker
{
    private readonly record struct ByteRange(ulong Buffer, long Start, long End)
    {
        public bool Overlaps(ByteRange other) => Buffer == other.Buffer && Start < other.End && other.Start < End;
    }

    private readonly List<ByteRange> unsynchronisedWrites = [];
    private readonly List<ByteRange> unsynchronisedReads = [];

    /// <summary>True when a command with these accesses must wait for the earlier ones.</summary>
    public bool NeedsBarrier(ReadOnlySpan<Binding> bindings)
    {
        foreach (Binding binding in bindings)
        {
            ByteRange range = ToRange(binding.Slice);
            foreach (ByteRange written in unsynchronisedWrites)
                if (written.Overlaps(range)) return true;
            if (!binding.Writes) continue;
            foreach (ByteRange read in unsynchronisedReads)
                if (read.Overlaps(range)) return true;
        }
        return false;
    }

    public void Record(ReadOnlySpan<Binding> bindings)
    {
        foreach (Binding binding in bindings)
        {
            ByteRange range = ToRange(binding.Slice);
            if (binding.Writes) unsynchronisedWrites.Add(range);
            unsynchronisedReads.Add(range);
        }
    }

    /// <summary>A barrier was recorded: everything before it is synchronised with everything after.</summary>
    public void Clear()
    {
        unsynchronisedWrites.Clear();
        unsynchronisedReads.Clear();
    }

    private static ByteRange ToRange(BufferSlice slice) =>
        new(slice.Buffer.Block.Buffer.Handle, slice.AbsoluteOffset, slice.AbsoluteOffset + slice.Length);
}

/// <summary>How a binding reaches the shader: a storage buffer, or a uniform texel buffer of fp32 or fp32x4 texels.
/// Kernels that choose at specialization time take these values as a spec constant.</summary>
public enum TexelFormat
{
    None = 0,
    /// <summary>R32_SFLOAT: texel i is element i.</summary>
    Float = 1,
    /// <summary>R32G32B32A32_SFLOAT: texel i is elements 4i..4i+3 (the range must be whole texels).</summary>
    Float4 = 2,
}

/// <summary>
/// A buffer range a command uses, and whether it writes it. <see cref="Texels"/>: read through a uniform
/// texel buffer instead of a storage buffer (see <see cref="KernelCache"/>).
/// </summary>
public readonly record struct Binding(BufferSlice Slice, bool Writes, TexelFormat Texels = TexelFormat.None)
{
    public bool AsTexels => Texels != TexelFormat.None;
    public static Binding ReadTexels(BufferSlice slice, TexelFormat format = TexelFormat.Float) => new(slice, false, format);
    public static Binding Read(BufferSlice slice) => new(slice, false);
    public static Binding Write(BufferSlice slice) => new(slice, true);
    public static Binding Read(GpuBuffer buffer) => new(buffer.Whole, false);
    public static Binding Write(GpuBuffer buffer) => new(buffer.Whole, true);
}
