using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>Shape checks and grid sizes shared by the transformer-op wrappers.</summary>
internal static class KernelShapes
{
    /// <summary>Grid-stride kernels need no more groups than this to fill any device.</summary>
    public const uint MaxGroups = 4096;

    /// <summary>Groups for a grid-stride loop over <paramref name="count"/> items.</summary>
    public static uint Groups(long count, uint workgroupSize) => (uint)Math.Clamp((count + workgroupSize - 1) / workgroupSize, 1, MaxGroups);

    /// <summary>Groups for one-workgroup-per-row kernels that stride over rows (y and z stay 1).</summary>
    public static uint RowGroups(long rowCount) => (uint)Math.Clamp(rowCount, 1, 65535);

    /// <summary>A positive size as a uint, refusing element counts a 32-bit shader index cannot reach.</summary>
    public static uint Positive(long value, string name)
    {
        if (value <= 0) throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive");
        if (value > uint.MaxValue) throw new ArgumentOutOfRangeException(name, value, $"{name} exceeds what a kernel can index");
        return (uint)value;
    }

    /// <summary>Checks that <paramref name="slice"/> holds at least <paramref name="elementCount"/> 4-byte elements.</summary>
    public static void Require(BufferSlice slice, long elementCount, string op, string name)
    {
        if (elementCount > uint.MaxValue) throw new ArgumentException($"{op}: {name} has {elementCount} elements, more than a kernel can index");
        if (slice.Length < elementCount * 4)
            throw new ArgumentException($"{op}: {name} ({slice}) holds {slice.Length / 4} elements; the shape needs {elementCount}");
    }

    /// <summary>The first <paramref name="elementCount"/> 4-byte elements of <paramref name="slice"/>, after <see cref="Require"/>.</summary>
    public static BufferSlice Exactly(BufferSlice slice, long elementCount, string op, string name)
    {
        Require(slice, elementCount, op, name);
        return slice.Slice(0, elementCount * 4);
    }

    /// <summary>
    /// Splits <paramref name="rowCount"/> rows into runs whose bindings each fit one storage binding of the device
    /// (maxStorageBufferRange: 128 MiB on lavapipe and many mobile GPUs, 4 GiB on most desktop ones):
    /// <paramref name="rowBytes"/> is a row of the widest tensor the op binds, <paramref name="otherRowBytes"/> those of
    /// the others. Every run but the last is a multiple of the rows that keep each tensor's next run at the device's
    /// offset alignment, so every binding starts aligned when the first does. One run when everything fits.
    /// </summary>
    public static IEnumerable<(long First, long Count)> BindingChunks(DeviceInfo info, long rowCount, string op, long rowBytes, params long[] otherRowBytes)
    {
        long alignment = info.MinStorageBufferOffsetAlignment, granule = 1;
        foreach (long bytes in otherRowBytes.Prepend(rowBytes))
        {
            long rows = alignment / Gcd(alignment, bytes);
            granule = granule / Gcd(granule, rows) * rows;
        }
        long rowsPerChunk = (long)Math.Min(info.MaxStorageBufferRange, (ulong)long.MaxValue) / rowBytes / granule * granule;
        if (rowsPerChunk == 0)
            throw new BindingRangeException($"{op}: {granule} rows of {rowBytes} bytes do not fit one binding of this device " +
                $"(maxStorageBufferRange {info.MaxStorageBufferRange} bytes); use a smaller width or vocabulary.");
        for (long first = 0; first < rowCount; first += rowsPerChunk)
            yield return (first, Math.Min(rowsPerChunk, rowCount - first));
    }

    /// <summary>Rows [<paramref name="first"/>, first + count) of a [rows, width] fp32 tensor: one run's binding.</summary>
    public static BufferSlice FloatRows(BufferSlice slice, long first, long count, long width) => slice.Elements<float>(first * width, count * width);

    private static long Gcd(long a, long b) => b == 0 ? a : Gcd(b, a % b);
}
