using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// Softmax cross-entropy over logits rows (Shaders/cross_entropy_fused.comp): the training variant
/// writes each row's weighted loss and overwrites the logits with their gradient in the same pass, the
/// evaluation variant writes the plain negative log-likelihood. Logits bigger than one binding
/// (16k tokens x 50304 is 3.2 GB) are processed in row chunks of at most <see cref="MaxRowsPerChunk"/>.
/// </summary>
public static class CrossEntropyKernels
{
    private const uint WorkgroupSize = 256;
    // Chunks start at multiples of this many rows, so every chunk's byte offset (rows * 4 * vocabSize,
    // and rows * 4 for targets, weights and losses) is a multiple of 256, the largest
    // minStorageBufferOffsetAlignment Vulkan allows.
    private const int RowAlignment = 64;

    private readonly record struct Push(uint VocabSize, uint RowCount, float LossScale);

    /// <summary>
    /// For each row r of <paramref name="logits"/> [rowCount, vocabSize]:
    /// losses[r] = weights[r] * (logsumexp(logits[r]) - logits[r, targets[r]]) * lossScale, and logits[r]
    /// is overwritten with (softmax(logits[r]) - onehot(targets[r])) * weights[r] * lossScale. Rows of
    /// weight 0 get loss 0 and an all-zero gradient. targets are uint32 ids below vocabSize.
    /// </summary>
    public static void ForwardBackward(CommandList c, BufferSlice logits, BufferSlice targets, BufferSlice weights, BufferSlice losses,
        int rowCount, int vocabSize, float lossScale) =>
        ForwardBackward(c, logits, targets, weights, losses, rowCount, vocabSize, lossScale, RowsPerDispatch(c.Context.Info, vocabSize));

    /// <summary>losses[r] = logsumexp(logits[r]) - logits[r, targets[r]] (unweighted, unscaled); logits are left as they are.</summary>
    public static void Forward(CommandList c, BufferSlice logits, BufferSlice targets, BufferSlice losses, int rowCount, int vocabSize) =>
        Forward(c, logits, targets, losses, rowCount, vocabSize, RowsPerDispatch(c.Context.Info, vocabSize));

    /// <summary>How many rows of <paramref name="vocabSize"/> fp32 logits fit one binding of this device, rounded down to a multiple of 64.</summary>
    public static int MaxRowsPerChunk(DeviceInfo info, int vocabSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabSize, 1);
        ulong rows = info.MaxStorageBufferRange / (4UL * (ulong)vocabSize) / RowAlignment * RowAlignment;
        if (rows == 0)
            throw new InvalidInputException($"One row of {vocabSize} logits ({4L * vocabSize} bytes) does not fit one binding of this " +
                $"device (maxStorageBufferRange {info.MaxStorageBufferRange} bytes) {RowAlignment} times; use a smaller vocabulary.");
        return (int)Math.Min(rows, int.MaxValue / RowAlignment * RowAlignment);
    }

    /// <summary>The training variant with an explicit chunk size (a multiple of 64), so tests can force many chunks.</summary>
    internal static void ForwardBackward(CommandList c, BufferSlice logits, BufferSlice targets, BufferSlice weights, BufferSlice losses,
        int rowCount, int vocabSize, float lossScale, int rowsPerChunk)
    {
        CheckShapes(logits, targets, losses, rowCount, vocabSize, rowsPerChunk);
        CheckLength(weights, rowCount, "weights");
        Kernel kernel = c.Context.Kernels.Get("cross_entropy_fused", WorkgroupSize);
        foreach (var (firstRow, rows) in Chunks(rowCount, rowsPerChunk))
            c.Dispatch(kernel, (uint)rows, 1, 1, new Push((uint)vocabSize, (uint)rows, lossScale),
                Binding.Write(logits.Elements<float>((long)firstRow * vocabSize, (long)rows * vocabSize)),
                Binding.Read(targets.Elements<uint>(firstRow, rows)),
                Binding.Read(weights.Elements<float>(firstRow, rows)),
                Binding.Write(losses.Elements<float>(firstRow, rows)));
    }

    /// <summary>The evaluation variant with an explicit chunk size (a multiple of 64).</summary>
    internal static void Forward(CommandList c, BufferSlice logits, BufferSlice targets, BufferSlice losses, int rowCount, int vocabSize, int rowsPerChunk)
    {
        CheckShapes(logits, targets, losses, rowCount, vocabSize, rowsPerChunk);
        Kernel kernel = c.Context.Kernels.Get("cross_entropy_forward", WorkgroupSize);
        foreach (var (firstRow, rows) in Chunks(rowCount, rowsPerChunk))
            c.Dispatch(kernel, (uint)rows, 1, 1, new Push((uint)vocabSize, (uint)rows, 0f),
                Binding.Read(logits.Elements<float>((long)firstRow * vocabSize, (long)rows * vocabSize)),
                Binding.Read(targets.Elements<uint>(firstRow, rows)),
                Binding.Write(losses.Elements<float>(firstRow, rows)));
    }

    /// <summary>Row ranges [firstRow, firstRow + rows) covering rowCount rows, each at most rowsPerChunk long.</summary>
    internal static IEnumerable<(int FirstRow, int Rows)> Chunks(int rowCount, int rowsPerChunk)
    {
        for (int firstRow = 0; firstRow < rowCount; firstRow += rowsPerChunk)
            yield return (firstRow, Math.Min(rowsPerChunk, rowCount - firstRow));
    }

    // One workgroup per row: a dispatch also has to respect the device's group-count limit.
    private static int RowsPerDispatch(DeviceInfo info, int vocabSize)
    {
        int groupLimit = (int)Math.Min(info.MaxComputeWorkGroupCountX, int.MaxValue) / RowAlignment * RowAlignment;
        return Math.Min(MaxRowsPerChunk(info, vocabSize), groupLimit);
    }

    private static void CheckShapes(BufferSlice logits, BufferSlice targets, BufferSlice losses, int rowCount, int vocabSize, int rowsPerChunk)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rowCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabSize, 1);
        if (rowsPerChunk < RowAlignment || rowsPerChunk % RowAlignment != 0)
            throw new ArgumentOutOfRangeException(nameof(rowsPerChunk), $"rows per chunk must be a positive multiple of {RowAlignment}, not {rowsPerChunk}");
        if (logits.Length < 4L * rowCount * vocabSize)
            throw new ArgumentException($"cross-entropy: {logits} is shorter than {rowCount} x {vocabSize} fp32 logits");
        CheckLength(targets, rowCount, "targets");
        CheckLength(losses, rowCount, "losses");
    }

    private static void CheckLength(BufferSlice slice, int rowCount, string what)
    {
        if (slice.Length < 4L * rowCount) throw new ArgumentException($"cross-entropy: {what} {slice} is shorter than {rowCount} elements");
    }
}
