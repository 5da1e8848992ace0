using VkDiffusion.Runtime.Vulkan;
using static VkDiffusion.Runtime.Kernels.KernelShapes;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// RMSNorm (eps 1e-5) forward and backward (Shaders/rmsnorm_fwd.comp, rmsnorm_bwd.comp). Activations bigger than one
/// binding go in runs of rows (the weight gradient's in runs of whole row blocks), with no change in any bit.
/// </summary>
public static class RmsNormKernels
{
    public const float Epsilon = 1e-5f;
    private const uint ChannelWorkgroupSize = 64;
    // The weight gradient sums rows in blocks of at least this many rows, into at most MaxRowBlocks partials:
    // enough parallel blocks for a GPU, a small scratch buffer, and a block split that depends on the shape only.
    private const int MinRowsPerBlock = 16;
    private const int MaxRowBlocks = 512;
    private const int CpuMaxRowBlocks = 32;

    private readonly record struct ForwardPush(uint RowCount, uint ChannelCount);
    private readonly record struct DxPush(uint RowCount, uint ChannelCount, uint Accumulate);
    private readonly record struct PartialPush(uint RowCount, uint ChannelCount, uint RowsPerBlock);
    private readonly record struct FinalPush(uint ChannelCount, uint BlockCount, uint Accumulate);

    /// <summary>y = x * rstd * weight with rstd[r] = 1 / sqrt(mean(x[r, :]^2) + 1e-5); writes rstd[rowCount] for the backward.</summary>
    public static void Forward(CommandList c, BufferSlice x, BufferSlice weight, BufferSlice y, BufferSlice rstd, int rowCount, int channelCount)
    {
        uint rows = Positive(rowCount, nameof(rowCount)), channels = Positive(channelCount, nameof(channelCount));
        const string op = "rmsnorm forward";
        long elements = (long)rows * channels;
        Require(x, elements, op, nameof(x));
        Require(y, elements, op, nameof(y));
        Require(rstd, rows, op, nameof(rstd));
        RowLayout layout = RowLayout.For(c.Context.Info, channels);
        foreach (var (first, count) in BindingChunks(c.Context.Info, rows, op, 4L * channels, sizeof(float)))
            c.Dispatch(layout.Get(c, "rmsnorm_fwd"), layout.Groups((uint)count), 1, 1, new ForwardPush((uint)count, channels),
                Binding.Read(FloatRows(x, first, count, channels)),
                Binding.Read(Exactly(weight, channels, op, nameof(weight))),
                Binding.Write(FloatRows(y, first, count, channels)),
                Binding.Write(FloatRows(rstd, first, count, 1)));
    }

    /// <summary>Bytes of scratch <see cref="Backward"/> needs: one fp32 partial weight gradient per row block.</summary>
    public static long ScratchBytes(int rowCount, int channelCount) =>
        4L * RowBlocks(Positive(rowCount, nameof(rowCount)), MaxRowBlocks).Count * Positive(channelCount, nameof(channelCount));

    /// <summary>
    /// dx (+)= rstd * w * dy - rstd^3 / C * x * sum_c(w dy x);  dWeight (+)= sum_r dy * x * rstd.
    /// Deterministic: the weight gradient is summed per fixed row block into <paramref name="scratch"/>
    /// (<see cref="ScratchBytes"/> long), then over blocks in order.
    /// </summary>
    public static void Backward(CommandList c, BufferSlice x, BufferSlice weight, BufferSlice rstd, BufferSlice dy, BufferSlice dx,
        BufferSlice dWeight, BufferSlice scratch, int rowCount, int channelCount, bool accumulateDx, bool accumulateDWeight)
    {
        uint rows = Positive(rowCount, nameof(rowCount)), channels = Positive(channelCount, nameof(channelCount));
        const string op = "rmsnorm backward";
        long elements = (long)rows * channels;
        foreach (var (slice, length, name) in new[] { (x, elements, nameof(x)), (dy, elements, nameof(dy)), (dx, elements, nameof(dx)), (rstd, (long)rows, nameof(rstd)) })
            Require(slice, length, op, name);
        // CPU devices take fewer, longer blocks (lavapipe pays per workgroup); never more than ScratchBytes allows.
        (uint blockCount, uint rowsPerBlock) = RowBlocks(rows, KernelStyle.RowPerInvocation(c.Context.Info) ? CpuMaxRowBlocks : MaxRowBlocks);
        BufferSlice partials = Exactly(scratch, (long)blockCount * channels, op, nameof(scratch));
        BufferSlice weightRange = Exactly(weight, channels, op, nameof(weight));
        KernelCache kernels = c.Context.Kernels;

        RowLayout layout = RowLayout.For(c.Context.Info, channels);
        foreach (var (first, count) in BindingChunks(c.Context.Info, rows, op, 4L * channels, sizeof(float)))
            c.Dispatch(layout.Get(c, "rmsnorm_bwd_dx"), layout.Groups((uint)count), 1, 1, new DxPush((uint)count, channels, accumulateDx ? 1u : 0u),
                Binding.Read(FloatRows(x, first, count, channels)), Binding.Read(weightRange), Binding.Read(FloatRows(rstd, first, count, 1)),
                Binding.Read(FloatRows(dy, first, count, channels)), Binding.Write(FloatRows(dx, first, count, channels)));
        // Runs of whole row blocks: each block's partial sums the same rows in the same order as in one dispatch.
        uint channelGroups = (channels + ChannelWorkgroupSize - 1) / ChannelWorkgroupSize;
        foreach (var (firstBlock, blocks) in BindingChunks(c.Context.Info, blockCount, op, 4L * rowsPerBlock * channels, 4L * rowsPerBlock, 4L * channels))
        {
            long first = firstBlock * rowsPerBlock, count = Math.Min(blocks * rowsPerBlock, rows - first);
            c.Dispatch(kernels.Get("rmsnorm_bwd_dw_partial", ChannelWorkgroupSize), channelGroups, (uint)blocks, 1,
                new PartialPush((uint)count, channels, rowsPerBlock),
                Binding.Read(FloatRows(x, first, count, channels)), Binding.Read(FloatRows(rstd, first, count, 1)), Binding.Read(FloatRows(dy, first, count, channels)),
                Binding.Write(FloatRows(partials, firstBlock, blocks, channels)));
        }
        c.Dispatch(kernels.Get("rmsnorm_bwd_dw_final", ChannelWorkgroupSize), channelGroups, 1, 1,
            new FinalPush(channels, blockCount, accumulateDWeight ? 1u : 0u),
            Binding.Read(partials), Binding.Write(Exactly(dWeight, channels, op, nameof(dWeight))));
    }

    private static (uint Count, uint RowsPerBlock) RowBlocks(uint rowCount, int maxBlocks)
    {
        uint count = (uint)Math.Clamp((rowCount + MinRowsPerBlock - 1) / MinRowsPerBlock, 1, maxBlocks);
        uint rowsPerBlock = (rowCount + count - 1) / count;
        // Recount so no block is empty.
        return ((rowCount + rowsPerBlock - 1) / rowsPerBlock, rowsPerBlock);
    }
}
