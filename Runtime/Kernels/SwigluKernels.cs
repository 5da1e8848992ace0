using VkDiffusion.Runtime.Vulkan;
using static VkDiffusion.Runtime.Kernels.KernelShapes;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// SwiGLU gate (Shaders/swiglu.comp): h [rowCount, 2 * hiddenCount] = [gate | up];
/// y[r, j] = silu(h[r, j]) * h[r, hiddenCount + j]. Rows are independent, so activations bigger than one binding go
/// in runs of rows.
/// </summary>
public static class SwigluKernels
{
    // Lanes take the F columns of a row; 64 keeps few lanes idle for the small widths of small models.
    private const uint WorkgroupSize = 64;

    private readonly record struct Push(uint RowCount, uint HiddenCount);

    public static void Forward(CommandList c, BufferSlice h, BufferSlice y, int rowCount, int hiddenCount)
    {
        uint rows = Positive(rowCount, nameof(rowCount)), hidden = Positive(hiddenCount, nameof(hiddenCount));
        const string op = "swiglu forward";
        Require(h, 2L * rows * hidden, op, nameof(h));
        Require(y, (long)rows * hidden, op, nameof(y));
        foreach (var (first, count) in RowRuns(c, rows, hidden, op))
        {
            var (groupsX, groupsY) = KernelStyle.ColumnRowGrid(c.Context.Info, count, hidden, WorkgroupSize);
            c.Dispatch(c.Context.Kernels.Get("swiglu_fwd", WorkgroupSize), groupsX, groupsY, 1, new Push(count, hidden),
                Binding.Read(FloatRows(h, first, count, 2 * hidden)), Binding.Write(FloatRows(y, first, count, hidden)));
        }
    }

    /// <summary>dh [rowCount, 2 * hiddenCount] (overwritten) from h and dy [rowCount, hiddenCount].</summary>
    public static void Backward(CommandList c, BufferSlice h, BufferSlice dy, BufferSlice dh, int rowCount, int hiddenCount)
    {
        uint rows = Positive(rowCount, nameof(rowCount)), hidden = Positive(hiddenCount, nameof(hiddenCount));
        const string op = "swiglu backward";
        Require(h, 2L * rows * hidden, op, nameof(h));
        Require(dy, (long)rows * hidden, op, nameof(dy));
        Require(dh, 2L * rows * hidden, op, nameof(dh));
        foreach (var (first, count) in RowRuns(c, rows, hidden, op))
        {
            var (groupsX, groupsY) = KernelStyle.ColumnRowGrid(c.Context.Info, count, hidden, WorkgroupSize);
            c.Dispatch(c.Context.Kernels.Get("swiglu_bwd", WorkgroupSize), groupsX, groupsY, 1, new Push(count, hidden),
                Binding.Read(FloatRows(h, first, count, 2 * hidden)), Binding.Read(FloatRows(dy, first, count, hidden)),
                Binding.Write(FloatRows(dh, first, count, 2 * hidden)));
        }
    }

    // Runs of rows whose widest binding ([gate | up], 2F floats a row) fits one binding.
    private static IEnumerable<(uint First, uint Count)> RowRuns(CommandList c, uint rows, uint hidden, string op) =>
        BindingChunks(c.Context.Info, rows, op, 8L * hidden, 4L * hidden).Select(run => ((uint)run.First, (uint)run.Count));
}
