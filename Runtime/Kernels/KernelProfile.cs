using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// The performance defaults of one device: choices between kernel variants that are all valid on it. Validity comes
/// from the device's limits, never from here (shared memory, texel and binding ranges, subgroup sizes: each kernel
/// checks its own); a profile only says which of the valid variants to prefer, and every field has an environment
/// switch that overrides it (docs/porting.md), so a measurement (`vkdiff bench kernels`) can settle what a profile
/// guessed.
/// Three profiles:
/// - <see cref="Lavapipe"/>, for Mesa's llvmpipe driver (matched by its Vulkan driver id), whose defaults were
///   measured on it (docs/benchmarks.md): lavapipe runs a workgroup as one thread looping over SIMD lanes and turns
///   every storage or shared load inside a loop into a per-lane loop, while a texel fetch is one vector gather; so
///   texel loads, many rows per invocation (each loaded element feeds many multiply-adds), no shared staging, and
///   few workgroups that each loop over many rows.
/// - <see cref="HostProcessor"/>, for any other implementation that runs on the host processor (device type CPU:
///   SwiftShader, a lavapipe fork under another driver id): it keeps the row-per-invocation layout of memory-bound
///   kernels (every CPU implementation runs lanes as a loop) but none of lavapipe's register-blocking or texel
///   choices. Those were measured on lavapipe alone, and SwiftShader's JIT refuses the large private arrays of
///   8-row attention and on fully unrolled head-dim-128 attention ("Local variable exceeds stack size limit", an abort),
///   and grows without bound compiling the texel matmul; storage loads, one row per invocation and rolled head-dim
///   loops at 128 are what it compiles (measured with SwiftShader 5.0.0, docs/portability.md).
/// - <see cref="Gpu"/>: many lanes per row with shared-memory reductions, shared-memory tiles and staging, one row
///   per invocation, and fused attention at head dims 64 and 128 with each row split across a cluster of lanes where the
///   device has the subgroup operations for it (one whole row per lane spills registers there).
/// </summary>
public sealed record KernelProfile
{
    /// <summary>VK_DRIVER_ID_MESA_LLVMPIPE.</summary>
    public const uint LlvmpipeDriverId = 13;

    public required string Name { get; init; }
    /// <summary>Memory-bound kernels give each invocation whole rows with plain loops, in a few long-looping workgroups.</summary>
    public required bool RowPerInvocation { get; init; }
    /// <summary>The matmul path for fp32 operands.</summary>
    public required MatmulPath Fp32Matmul { get; init; }
    /// <summary>
    /// Floats of private arrays one fused-attention invocation may hold: it owns as many rows as fit (8 at head dims
    /// up to 64, 4 at 128, else 1; each row holds four head-dim vectors). One row always runs.
    /// </summary>
    public required int AttentionPrivateFloats { get; init; }
    /// <summary>
    /// The largest head dim whose fused-attention kernels run with their head-dim loops fully unrolled (the per-row vectors
    /// in registers); larger head dims take the _rolled variants, which keep the loops.
    /// </summary>
    public required int MaxUnrolledHeadDim { get; init; }
    /// <summary>
    /// Fused attention at head dims 64 and 128 splits each row across a cluster of invocations where the device can
    /// (AttentionBlocks.SplitSupport): a row per invocation there holds more than a GPU lane's registers.
    /// </summary>
    public required bool AttentionSplitRows { get; init; }
    /// <summary>Fused attention stages the other operand in shared memory (within the device's shared memory).</summary>
    public required bool AttentionStaging { get; init; }
    /// <summary>Fused attention reads qkv and dO through texel buffers (where the device's texel limit covers a binding).</summary>
    public required bool AttentionTexelLoads { get; init; }
    /// <summary>Workgroups that keep the device busy, for splitting a reduction when the output alone leaves it idle.</summary>
    public required long TargetWorkgroups { get; init; }
    /// <summary>
    /// fp16 matmuls go to cooperative matrices where the device lists them, and `--precision auto` picks fp16 there; not
    /// on a host processor, whose matrix units can only be emulated.
    /// </summary>
    public required bool PrefersMatrixUnits { get; init; }

    public static KernelProfile Lavapipe { get; } = new()
    {
        Name = "lavapipe",
        RowPerInvocation = true,
        Fp32Matmul = MatmulPath.RegisterBlockedTexels,
        AttentionPrivateFloats = 4 * 8 * 64,
        MaxUnrolledHeadDim = 128,
        AttentionSplitRows = false,
        AttentionStaging = false,
        AttentionTexelLoads = true,
        // A few workgroups per core: lavapipe runs one thread per core.
        TargetWorkgroups = 4L * Environment.ProcessorCount,
        PrefersMatrixUnits = false,
    };

    public static KernelProfile HostProcessor { get; } = Lavapipe with
    {
        Name = "host processor",
        Fp32Matmul = MatmulPath.RegisterBlocked,
        AttentionPrivateFloats = 0,
        MaxUnrolledHeadDim = 64,
        AttentionTexelLoads = false,
    };

    public static KernelProfile Gpu { get; } = new()
    {
        Name = "GPU",
        RowPerInvocation = false,
        Fp32Matmul = MatmulPath.Tiled,
        AttentionPrivateFloats = 0,
        MaxUnrolledHeadDim = 128,
        AttentionSplitRows = true,
        AttentionStaging = true,
        AttentionTexelLoads = false,
        // A few per compute unit of a large part (Vulkan does not report the count; an H100 has 132 SMs).
        TargetWorkgroups = 512,
        PrefersMatrixUnits = true,
    };

    public static KernelProfile For(DeviceInfo device) =>
        device.DriverId == LlvmpipeDriverId ? Lavapipe
        : device.DeviceType == DeviceInfo.CpuDeviceType ? HostProcessor
        : Gpu;
}
