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
    // A row gets the fewest lanes (a power of two up to the workgroup) that leave each at most this many
    // logits. GPUs: 256 lanes for 50304, 64 (4 rows per group) for the byte vocabulary's 258. CPU
    // devices pay for every lane of a workgroup and every barrier (lavapipe runs a group as coroutines
    // switching at each barrier), so they get longer lanes: 8 lanes, one SIMD vector, per 258-logit row
    // (5-10x faster there, measured on a busy 2-core machine); 50304 still gets 256 lanes.
    private const int GpuLogitsPerLane = 8;
    private const int CpuLogitsPerLane = 64;
    // Chunks start at multiples of this many rows, so every chunk's byte offset (rows * 4 * vocabSize,
    // and rows * 4 for targets, weights and losses) is a multiple of 256, the largest
    // minStorageBufferOffsetAlignment Vulkan allows.
    private const int RowAlignment = 64;

    private readonly record struct Push(uint VocabSize, uint RowCount, float LossScale);

    /// <summary>How a problem is split: rows per dispatch (a multiple of 64) and lanes per row (spec constant 1).</summary>
    internal readonly record struct Plan(int RowsPerChunk, uint LanesPerRow);

    /// <summary>
    /// For each row r of <paramref name="logits"/> [rowCount, vocabSize]:
    /// losses[r] = weights[r] * (logsumexp(logits[r]) - logits[r, targets[r]]) * lossScale, and logits[r]
    /// is overwritten with (softmax(logits[r]) - onehot(targets[r])) * weights[r] * lossScale. Rows of
    /// weight 0 get loss 0 and an all-zero gradient. targets are uint32 ids below vocabSize.
    /// </summary>
    public static void ForwardBackward(CommandList c, BufferSlice logits, BufferSlice targets, BufferSlice weights, BufferSlice losses,
        int rowCount, int vocabSize, float lossScale) =>
        ForwardBackward(c, logits, targets, weights, losses, rowCount, vocabSize, lossScale, PlanFor(c.Context.Info, vocabSize));

    /// <summary>losses[r] = logsumexp(logits[r]) - logits[r, targets[r]] (unweighted, unscaled); logits are left as they are.</summary>
    public static void Forward(CommandList c, BufferSlice logits, BufferSlice targets, BufferSlice losses, int rowCount, int vocabSize) =>
        Forward(c, logits, targets, losses, rowCount, vocabSize, PlanFor(c.Context.Info, vocabSize));

    /// <summary>How many rows of <paramref name="vocabSize"/> fp32 logits fit one binding of this device, rounded down to a multiple of 64.</summary>
    public static int MaxRowsPerChunk(DeviceInfo info, int vocabSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabSize, 1);
        ulong rows = info.MaxStorageBufferRange / (4UL * (ulong)vocabSize) / RowAlignment * RowAlignment;
        if (rows == 0)
            throw new BindingRangeException($"One row of {vocabSize} logits ({4L * vocabSize} bytes) does not fit one binding of this " +
                $"device (maxStorageBufferRange {info.MaxStorageBufferRange} bytes) {RowAlignment} times; use a smaller vocabulary.");
        return (int)Math.Min(rows, int.MaxValue / RowAlignment * RowAlignment);
    }

    /// <summary>The training variant with an explicit plan, so tests can force many chunks and every lane count.</summary>
    internal static void ForwardBackward(CommandList c, BufferSlice logits, BufferSlice targets, BufferSlice weights, BufferSlice losses,
        int rowCount, int vocabSize, float lossScale, Plan plan)
    {
        CheckShapes(logits, targets, losses, rowCount, vocabSize, plan);
        CheckLength(weights, rowCount, "weights");
        Kernel kernel = c.Context.Kernels.Get("cross_entropy_fused", WorkgroupSize, plan.LanesPerRow);
        foreach (var (firstRow, rows) in Chunks(rowCount, plan.RowsPerChunk))
            c.Dispatch(kernel, Groups(rows, plan.LanesPerRow), 1, 1, new Push((uint)vocabSize, (uint)rows, lossScale),
                Binding.Write(logits.Elements<float>((long)firstRow * vocabSize, (long)rows * vocabSize)),
                Binding.Read(targets.Elements<uint>(firstRow, rows)),
                Binding.Read(weights.Elements<float>(firstRow, rows)),
                Binding.Write(losses.Elements<float>(firstRow, rows)));
    }

    /// <summary>The evaluation variant with an explicit plan.</summary>
    internal static void Forward(CommandList c, BufferSlice logits, BufferSlice targets, BufferSlice losses, int rowCount, int vocabSize, Plan plan)
    {
        CheckShapes(logits, targets, losses, rowCount, vocabSize, plan);
        Kernel kernel = c.Context.Kernels.Get("cross_entropy_forward", WorkgroupSize, plan.LanesPerRow);
        foreach (var (firstRow, rows) in Chunks(rowCount, plan.RowsPerChunk))
            c.Dispatch(kernel, Groups(rows, plan.LanesPerRow), 1, 1, new Push((uint)vocabSize, (uint)rows, 0f),
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

    /// <summary>
    /// Invocations that share one row of <paramref name="vocabSize"/> logits on this device: the kernels' spec constant 1,
    /// so each distinct value is its own pipeline.
    /// </summary>
    public static uint LanesPerRow(DeviceInfo info, int vocabSize) =>
        LanesPerRow(vocabSize, KernelProfile.For(info).RowPerInvocation ? CpuLogitsPerLane : GpuLogitsPerLane);

    /// <summary>The plan this device uses: the largest aligned chunk that fits one binding and one dispatch's groups.</summary>
    internal static Plan PlanFor(DeviceInfo info, int vocabSize)
    {
        uint lanes = LanesPerRow(info, vocabSize);
        long rowsPerGroup = WorkgroupSize / lanes;
        long groupLimitRows = Math.Min(info.MaxComputeWorkGroupCountX * rowsPerGroup, int.MaxValue) / RowAlignment * RowAlignment;
        return new Plan((int)Math.Min(MaxRowsPerChunk(info, vocabSize), groupLimitRows), lanes);
    }

    /// <summary>Lanes that share one row: a power of two from 1 to the workgroup size.</summary>
    internal static uint LanesPerRow(int vocabSize, int logitsPerLane)
    {
        uint lanes = 1;
        while (lanes < WorkgroupSize && (long)lanes * logitsPerLane < vocabSize) lanes *= 2;
        return lanes;
    }

    private static uint Groups(int rows, uint lanesPerRow)
    {
        uint rowsPerGroup = WorkgroupSize / lanesPerRow;
        return (uint)((rows + rowsPerGroup - 1) / rowsPerGroup);
    }

    private static void CheckShapes(BufferSlice logits, BufferSlice targets, BufferSlice losses, int rowCount, int vocabSize, Plan plan)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rowCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabSize, 1);
        if (plan.RowsPerChunk < RowAlignment || plan.RowsPerChunk % RowAlignment != 0)
            throw new ArgumentOutOfRangeException(nameof(plan), $"rows per chunk must be a positive multiple of {RowAlignment}, not {plan.RowsPerChunk}");
        if (plan.LanesPerRow == 0 || plan.LanesPerRow > WorkgroupSize || (plan.LanesPerRow & (plan.LanesPerRow - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(plan), $"lanes per row must be a power of two up to {WorkgroupSize}, not {plan.LanesPerRow}");
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
