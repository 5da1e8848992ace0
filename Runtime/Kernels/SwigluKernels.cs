using VkDiffusion.Runtime.Vulkan;
using static VkDiffusion.Runtime.Kernels.KernelShapes;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// SwiGLU gate (Shaders/swiglu.comp): h [rowCount, 2 * hiddenCount] = [gate | up];
/// y[r, j] = silu(h[r, j]) * h[r, hiddenCount + j].
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
        long outputs = (long)rows * hidden;
        var (groupsX, groupsY) = KernelStyle.ColumnRowGrid(c.Context.Info, rows, hidden, WorkgroupSize);
        c.Dispatch(c.Context.Kernels.Get("swiglu_fwd", WorkgroupSize), groupsX, groupsY, 1, new Push(rows, hidden),
            Binding.Read(Exactly(h, 2 * outputs, op, nameof(h))), Binding.Write(Exactly(y, outputs, op, nameof(y))));
    }

    /// <summary>dh [rowCount, 2 * hiddenCount] (overwritten) from h and dy [rowCount, hiddenCount].</summary>
    public static void Backward(CommandList c, BufferSlice h, BufferSlice dy, BufferSlice dh, int rowCount, int hiddenCount)
    {
        uint rows = Positive(rowCount, nameof(rowCount)), hidden = Positive(hiddenCount, nameof(hiddenCount));
        const string op = "swiglu backward";
        long outputs = (long)rows * hidden;
        var (groupsX, groupsY) = KernelStyle.ColumnRowGrid(c.Context.Info, rows, hidden, WorkgroupSize);
        c.Dispatch(c.Context.Kernels.Get("swiglu_bwd", WorkgroupSize), groupsX, groupsY, 1, new Push(rows, hidden),
            Binding.Read(Exactly(h, 2 * outputs, op, nameof(h))), Binding.Read(Exactly(dy, outputs, op, nameof(dy))),
            Binding.Write(Exactly(dh, 2 * outputs, op, nameof(dh))));
    }
}
