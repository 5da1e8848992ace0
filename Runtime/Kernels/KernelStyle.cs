using System.Numerics;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// How memory-bound kernels lay work on lanes (<see cref="KernelProfile.RowPerInvocation"/>). A CPU implementation
/// (lavapipe, SwiftShader) runs a workgroup as a loop over SIMD lanes, so shared memory, barriers and many small workgroups are expensive there: each invocation takes
/// whole rows with plain loops. A GPU wants many lanes per row and a shared-memory reduction.
/// <see cref="Variable"/> forces either style on any device (for diagnosis and for testing the GPU path on lavapipe).
/// </summary>
public static class KernelStyle
{
    public const string Variable = "VKDIFF_KERNEL_STYLE";

    /// <summary>True for the CPU style (a row per invocation): the device profile's choice unless <see cref="Variable"/> says otherwise.</summary>
    public static bool RowPerInvocation(DeviceInfo device)
    {
        string? forced = KernelSwitches.Get(Variable);
        return forced?.Trim().ToLowerInvariant() switch
        {
            null or "" or "auto" => KernelProfile.For(device).RowPerInvocation,
            "cpu" => true,
            "gpu" => false,
            _ => throw new InvalidInputException($"{Variable}={forced} is not a kernel style; use auto, cpu or gpu."),
        };
    }

    // CPU style: about this many workgroups in all, enough to keep every core busy, each looping over many rows.
    private const uint CpuGroupTarget = 32;

    /// <summary>
    /// Workgroups for a grid-stride loop over <paramref name="count"/> items: on CPU devices only a few, so
    /// each invocation loops (lavapipe pays per workgroup); on GPUs up to <see cref="KernelShapes.MaxGroups"/>.
    /// </summary>
    internal static uint GridStrideGroups(DeviceInfo device, long count, uint workgroupSize) =>
        Math.Min(KernelShapes.Groups(count, workgroupSize), RowPerInvocation(device) ? CpuGroupTarget : KernelShapes.MaxGroups);

    /// <summary>
    /// Grid for kernels whose lanes take columns (x) and whose workgroup rows stride over matrix rows (y):
    /// one workgroup row per matrix row on GPUs (up to the y limit), a few long-looping ones on CPU devices.
    /// </summary>
    internal static (uint X, uint Y) ColumnRowGrid(DeviceInfo device, uint rowCount, uint columnCount, uint workgroupSize)
    {
        uint x = (columnCount + workgroupSize - 1) / workgroupSize;
        uint y = RowPerInvocation(device) ? Math.Max(1, CpuGroupTarget / x) : 65535;
        return (x, Math.Min(rowCount, y));
    }
}

/// <summary>
/// Work layout of the row kernels in Shaders/row_layout.glsl: spec constant 0 = workgroup size, 1 = lanes per row.
/// </summary>
internal readonly record struct RowLayout(uint WorkgroupSize, uint LanesPerRow)
{
    private const uint GpuWorkgroupSize = 128;
    // Enough rows per workgroup for the SIMD loop, few enough workgroups that lavapipe's per-group cost is small.
    private const uint CpuWorkgroupSize = 64;

    public uint RowsPerGroup => WorkgroupSize / LanesPerRow;

    /// <summary>The layout for rows of <paramref name="channelCount"/> values on this device.</summary>
    public static RowLayout For(DeviceInfo device, uint channelCount) => KernelStyle.RowPerInvocation(device)
        ? new RowLayout(CpuWorkgroupSize, 1)
        : new RowLayout(GpuWorkgroupSize, Math.Min(GpuWorkgroupSize, BitOperations.RoundUpToPowerOf2(channelCount)));

    /// <summary>Workgroups for <paramref name="rowCount"/> rows; the kernels stride over rows beyond them.</summary>
    public uint Groups(long rowCount) => (uint)Math.Clamp((rowCount + RowsPerGroup - 1) / RowsPerGroup, 1, 65535);

    public Kernel Get(CommandList c, string name) => c.Context.Kernels.Get(name, WorkgroupSize, LanesPerRow);
}
