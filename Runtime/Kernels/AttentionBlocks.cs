using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// Block sizes of the fused attention kernels for one device and head dim. Each invocation owns
/// RowsPerInvocation rows (register blocking; a build-time variant: 1, 8 for head dims up to 64, 4 for 128), RowBlock
/// invocations form a workgroup, and StageBlock rows of the other operand are walked per step. What the device's
/// <see cref="KernelProfile"/> prefers, within what the device allows:
/// - Rows: as many as the profile's private-array budget holds (each row keeps four head-dim vectors: k, v and their
///   gradients), else one. lavapipe's budget takes 8 (4 at head dim 128): each loaded element of the other operand
///   then feeds 8 rows' multiply-adds, and there loads, not arithmetic, set the speed (a storage or shared load inside
///   a loop is a per-lane loop; a uniform load is broadcast only outside all control flow). Other devices take one:
///   on a GPU more would spill registers, and SwiftShader's JIT aborts on 8-row arrays. VKDIFF_ATTENTION_ROWS=1 or the
///   variant's count forces it.
/// - Workgroups: one subgroup wide (at least 8) on host processors, so a 64-row workgroup lets short and causal
///   sequences spread over the cores; 64 invocations (two 32-wide or one 64-wide wave) on GPUs.
/// - Staging: GPUs stage the other operand in shared memory, in the largest power-of-two block up to 64 whose buffers
///   fit in min(shared memory, 32 KiB) (room for a second resident workgroup on 48-64 KiB GPUs; VKDIFF_SHARED_MEMORY_LIMIT
///   lowers the device's figure to test 16 KiB devices); host processors read it in place (their shared memory is
///   ordinary memory and barriers make the subgroups coroutines). VKDIFF_ATTENTION_SHARED=1 or 0 forces it.
/// - Rolled head-dim loops at head dim 128 where the profile unrolls only smaller ones (SwiftShader);
///   VKDIFF_ATTENTION_UNROLL=1 or 0 forces it.
/// - TexelLoads: qkv (and dO in the dK/dV pass) are read through texel buffers, which lavapipe fetches for all SIMD
///   lanes with one vector gather instead of a loop over the lanes; only where the profile asks for it and the texel
///   limit covers a storage binding. VKDIFF_ATTENTION_TEXELS=1 or 0 forces it.
/// - Split rows (Lanes &gt; 1): each row's head dim split across a cluster of Lanes invocations (attention_*_split.comp,
///   built at head dims 64 and 128 with 16 elements per lane), so a GPU lane holds a quarter or an eighth of each row
///   vector and none spills (docs/amd.md). The profile asks for them (GPUs) and the device must run them
///   (<see cref="SplitSupport"/>: subgroup shuffles in compute, subgroups that hold whole clusters); they stage in shared
///   memory with one row per cluster and RowBlock = 256 invocations. VKDIFF_ATTENTION_SPLIT=1 or 0 forces them at head dims
///   64 and 128 (1 is refused where the device cannot run them); a forced row count or VKDIFF_ATTENTION_SHARED=0 keeps
///   the unsplit kernels.
/// - Block sizes: VKDIFF_ATTENTION_WORKGROUP and VKDIFF_ATTENTION_STAGE force RowBlock and StageBlock (`vkdiff tune` tries them;
///   the split kernels keep their own workgroup).
/// Only the split kernels depend on the subgroup size for correctness.
/// CooperativeMatrixTile set: the cooperative-matrix kernels (attention_coopmat.glsl), with CooperativeSubgroups
/// subgroups of Tile.M rows per workgroup (RowBlock is then the workgroup size) and build-time staging blocks.
/// </summary>
public readonly record struct AttentionBlocks(uint RowBlock, uint StageBlock, bool StageInShared, uint RowsPerInvocation = 1, bool TexelLoads = false,
    (uint M, uint N, uint K)? CooperativeMatrixTile = null, bool RolledHeadDim = false, uint Lanes = 1)
{
    private const uint SharedBudgetBytes = 32 * 1024;

    // Subgroups per workgroup of the cooperative-matrix kernels and rows of the other operand per step: SUBGROUPS and
    // BLOCK in attention_coopmat.glsl, keep in step.
    private const uint CooperativeSubgroups = 2;
    private static uint CooperativeBlock(int headDim) => headDim <= 64 ? 32u : 16u;

    public const string RowsVariable = "VKDIFF_ATTENTION_ROWS";
    public const string UnrollVariable = "VKDIFF_ATTENTION_UNROLL";
    public const string SharedVariable = "VKDIFF_ATTENTION_SHARED";
    public const string TexelsVariable = "VKDIFF_ATTENTION_TEXELS";
    /// <summary>Invocations per workgroup (RowBlock), a power of two: over the profile's choice.</summary>
    public const string WorkgroupVariable = "VKDIFF_ATTENTION_WORKGROUP";
    /// <summary>Rows of the other operand per step (StageBlock), a power of two whose staging fits the device's shared memory.</summary>
    public const string StageVariable = "VKDIFF_ATTENTION_STAGE";
    public const string SplitVariable = "VKDIFF_ATTENTION_SPLIT";

    // Invocations per workgroup of the split kernels: 64 rows of 4 lanes at head dim 64, 32 of 8 at 128, so each staged key
    // block serves as many rows as the one-row kernels' 64-invocation groups would hold.
    private const uint SplitGroupInvocations = 256;

    public static AttentionBlocks For(DeviceInfo device, int headDim)
    {
        KernelProfile profile = KernelProfile.For(device);
        uint rowBlock = ForcedPowerOfTwo(WorkgroupVariable, device.MaxComputeWorkGroupInvocations, "invocations per workgroup",
            $"the device's maxComputeWorkGroupInvocations, {device.MaxComputeWorkGroupInvocations}")
            ?? Math.Min(profile.RowPerInvocation ? Math.Max(8u, device.SubgroupSize) : 64u, device.MaxComputeWorkGroupInvocations);
        // The dK/dV pass stages the most: Q and dO rows plus one LSE and one delta per row.
        uint bytesPerStagedRow = (uint)(2 * headDim + 2) * sizeof(float);
        uint stageBlock = ForcedPowerOfTwo(StageVariable, device.SharedMemoryBytes / bytesPerStagedRow, "staged rows per step",
            $"what {device.SharedMemoryBytes} bytes of shared memory hold at head dim {headDim}") ?? LargestStageBlock(Math.Min(device.SharedMemoryBytes, SharedBudgetBytes), bytesPerStagedRow);
        bool stageInShared = ForcedSwitch(SharedVariable) ?? profile.AttentionStaging;
        bool texelLoads = ForcedSwitch(TexelsVariable)
            ?? (profile.AttentionTexelLoads && (ulong)device.MaxTexelBufferElements * sizeof(float) >= device.MaxStorageBufferRange);
        if (UseSplit(profile, device, headDim))
            return new AttentionBlocks(SplitRowBlock(device), stageBlock, StageInShared: true, TexelLoads: texelLoads, Lanes: SplitLanes(headDim));
        uint rows = PreferredRows(profile, headDim);
        // Rolled loops exist for one row per invocation at head dim 128 (the only kernels SwiftShader cannot take unrolled).
        bool rolled = rows == 1 && headDim == RolledHeadDims && !(ForcedSwitch(UnrollVariable) ?? headDim <= profile.MaxUnrolledHeadDim);
        return new AttentionBlocks(rowBlock, stageBlock, stageInShared, rows, texelLoads, RolledHeadDim: rolled);
    }

    private const int RolledHeadDims = 128;

    private static uint LargestStageBlock(uint budgetBytes, uint bytesPerStagedRow)
    {
        uint stageBlock = 64;
        while (stageBlock > 1 && stageBlock * bytesPerStagedRow > budgetBytes) stageBlock /= 2;
        return stageBlock;
    }

    // A block-size switch: unset, or a power of two from 1 to max.
    private static uint? ForcedPowerOfTwo(string variable, uint max, string what, string limit)
    {
        string? forced = KernelSwitches.Get(variable)?.Trim();
        if (forced is null) return null;
        if (uint.TryParse(forced, out uint value) && value >= 1 && uint.IsPow2(value) && value <= max) return value;
        throw new InvalidInputException($"{variable}={forced} is not a number of {what} this device takes: use a power of two up to {limit}, or unset it.");
    }

    // The register-blocked variant's row count at this head dim (attention_*.comp build 8 for 16-64 and 4 for 128).
    private static uint BlockedRows(int headDim) => headDim <= 64 ? 8u : 4u;

    private static uint PreferredRows(KernelProfile profile, int headDim)
    {
        uint blocked = BlockedRows(headDim);
        string? forced = KernelSwitches.Get(RowsVariable)?.Trim();
        if (string.IsNullOrEmpty(forced)) return blocked * 4 * headDim <= profile.AttentionPrivateFloats ? blocked : 1u;
        if (uint.TryParse(forced, out uint rows) && (rows == 1 || rows == blocked)) return rows;
        throw new InvalidInputException($"{RowsVariable}={forced} is not a row count the head-dim-{headDim} kernels are built for; use 1 or {blocked}.");
    }

    /// <summary>
    /// Invocations per row of the split kernels at this head dim: 4 at 64, 8 at 128 (16 elements a lane); 0 where none are
    /// built. At most <see cref="KernelCache.ShuffleClusterLanes"/>, which sizes the subgroups these kernels need.
    /// </summary>
    public static uint SplitLanes(int headDim) => headDim switch { 64 => 4u, 128 => 8u, _ => 0u };

    // Within the device's workgroup limit and, where pipelines are created at a required subgroup size, within the
    // subgroups such a workgroup may hold (maxComputeWorkgroupSubgroups).
    private static uint SplitRowBlock(DeviceInfo device)
    {
        uint invocations = Math.Min(SplitGroupInvocations, device.MaxComputeWorkGroupInvocations);
        return KernelCache.RequiresShuffleSubgroupSize(device) && device.MaxComputeWorkgroupSubgroups > 0
            ? Math.Min(invocations, device.SubgroupSize * device.MaxComputeWorkgroupSubgroups) : invocations;
    }

    /// <summary>
    /// Whether the device runs the split kernels at this head dim, or why not (whyNot). They add partial sums across a row's
    /// cluster of lanes with subgroup shuffles, so the device needs those in compute shaders, and every subgroup a pipeline
    /// may run with must hold whole clusters: at least Lanes invocations. That is its smallest size, except on a device that
    /// may run subgroups below 8 lanes and can fix the size: there the kernels' pipelines are created at its reported size
    /// with full subgroups (<see cref="KernelCache.RequiresShuffleSubgroupSize"/>), which must then hold Lanes, with the
    /// workgroup a whole number of subgroups.
    /// </summary>
    public static bool SplitSupport(DeviceInfo device, int headDim, out string whyNot)
    {
        uint lanes = SplitLanes(headDim);
        bool requiredSize = KernelCache.RequiresShuffleSubgroupSize(device);
        uint smallestSubgroup = requiredSize ? device.SubgroupSize : device.MinSubgroupSize;
        uint rowBlock = SplitRowBlock(device);
        whyNot =
            lanes == 0 ? $"no split-row attention kernels are built for head dim {headDim} (64 and 128 are)"
            : !device.ComputeSubgroupShuffle ? $"{device.Name} has no subgroup shuffles in compute shaders ({device.SubgroupOperations})"
            : smallestSubgroup < lanes ? $"{device.Name} may run subgroups of {smallestSubgroup} invocations, fewer than the {lanes} lanes of a head-dim-{headDim} row"
            : rowBlock % lanes != 0 || (requiredSize && rowBlock % device.SubgroupSize != 0)
                ? $"{device.Name}'s workgroups of {rowBlock} invocations do not hold whole subgroups of {device.SubgroupSize}"
            : "";
        return whyNot == "";
    }

    // Whether the profile (or VKDIFF_ATTENTION_SPLIT) takes the split kernels here. A forced row count or in-place reads ask
    // for the unsplit kernels, so the profile's choice yields to them; forcing the split as well is a contradiction.
    private static bool UseSplit(KernelProfile profile, DeviceInfo device, int headDim)
    {
        bool? forced = ForcedSwitch(SplitVariable);
        if (forced == false || SplitLanes(headDim) == 0) return false;
        bool unsplitForced = KernelSwitches.Get(RowsVariable) is not null || ForcedSwitch(SharedVariable) == false;
        bool supported = SplitSupport(device, headDim, out string whyNot);
        if (forced != true) return profile.AttentionSplitRows && supported && !unsplitForced;
        if (!supported) throw new InvalidInputException($"{SplitVariable}=1: {whyNot}; unset {SplitVariable}.");
        if (unsplitForced)
            throw new InvalidInputException($"{SplitVariable}=1 runs one row per cluster staged in shared memory; unset {RowsVariable} and {SharedVariable}=0.");
        return true;
    }

    private static bool? ForcedSwitch(string variable) => KernelSwitches.Get(variable)?.Trim() switch
    {
        "1" => true,
        "0" => false,
        _ => null,
    };

    /// <summary>
    /// The blocks of the cooperative-matrix kernels on <paramref name="tile"/> (a shape the device lists) with this
    /// subgroup size, or null with the reason when the device's shared memory cannot hold their staging.
    /// </summary>
    public static AttentionBlocks? ForCooperativeMatrix(DeviceInfo device, int headDim, (uint M, uint N, uint K) tile, uint subgroupSize,
        out string whyNot)
    {
        var blocks = new AttentionBlocks(CooperativeSubgroups * subgroupSize, CooperativeBlock(headDim), StageInShared: true,
            CooperativeMatrixTile: tile);
        long sharedBytes = CooperativeSharedBytes(headDim, tile.M);
        whyNot = sharedBytes > device.SharedMemoryBytes
            ? $"{device.Name} has {device.SharedMemoryBytes} bytes of shared memory; the cooperative-matrix attention backward at head dim {headDim} needs {sharedBytes}"
            : "";
        return whyNot == "" ? blocks : null;
    }

    // The shared memory of attention_bwd_coopmat, the largest of the three kernels: own K and V rows and the staged Q and
    // dO rows (fp16, rows padded by 8), S^T and dP^T (fp32, rows padded by 4), P^T and dS^T (fp16), LSE and delta.
    private static long CooperativeSharedBytes(int headDim, uint tileM)
    {
        long rows = CooperativeSubgroups * tileM, block = CooperativeBlock(headDim), headStride = headDim + 8;
        long halves = 2 * rows * headStride + 2 * block * headStride + 2 * rows * (block + 8);
        long floats = 2 * rows * (block + 4) + 2 * block;
        return 2 * halves + 4 * floats;
    }

    /// <summary>Rows one workgroup owns.</summary>
    public uint RowsPerGroup => CooperativeMatrixTile is { } tile ? CooperativeSubgroups * tile.M : RowBlock * RowsPerInvocation / Lanes;

    public uint GroupsFor(int sequenceLength) => (uint)((sequenceLength + RowsPerGroup - 1) / RowsPerGroup);

    /// <summary>
    /// How a dispatch whose qkv / dO windows start at these element offsets and span these bytes reads them:
    /// storage buffers when texel loads are off, fp32x4 texels when every window starts and ends on a whole
    /// texel, fp32 texels otherwise. Its numeric value is the kernels' TEXEL_MODE.
    /// </summary>
    public TexelFormat TexelMode(params (uint BaseElement, long Bytes)[] windows) =>
        !TexelLoads ? TexelFormat.None
        : windows.All(w => w.BaseElement % 4 == 0 && w.Bytes % 16 == 0) ? TexelFormat.Float4 : TexelFormat.Float;

    /// <summary>The specialization constants of the fused kernels: ROW_BLOCK, STAGE_BLOCK, STAGE_IN_SHARED, TEXEL_MODE.</summary>
    public uint[] Specialization(TexelFormat texelMode) => [RowBlock, StageBlock, StageInShared ? 1u : 0u, (uint)texelMode];

    /// <summary>The build-time variant of a fused attention kernel family ("attention_fwd", ...) for these blocks and qkv
    /// stored as <paramref name="inputs"/>: family_d{headDim} (one row per invocation) or family_rows{n}_d{headDim};
    /// variants exist for RowsPerInvocation 1 with every head dim, 8 with head dims 16-64 and 4 with 128 (<see cref="BlockedRows"/>),
    /// and with rolled head-dim loops (family_d128_rolled) for one row at head dim 128.
    /// The split kernels (Lanes &gt; 1) are family_d{headDim}_split, with the lanes <see cref="SplitLanes"/> gives.
    /// The cooperative-matrix kernels are family_coopmat_d{headDim}_{M}x{N}x{K}, for the tiles MatmulKernels offers.
    /// 16-bit qkv adds _f16 or _bf16 (storage-buffer loads only; the cooperative-matrix kernels have _f16 alone).</summary>
    public string KernelName(string family, int headDim, Precision inputs = Precision.Fp32)
    {
        if (Lanes > 1 && (Lanes != SplitLanes(headDim) || RowsPerInvocation != 1 || RolledHeadDim || !StageInShared || RowBlock % Lanes != 0))
            throw new ArgumentException($"attention: no split kernel runs {Lanes} lanes a row at head dim {headDim} with these blocks ({this})");
        string name = CooperativeMatrixTile is { } tile ? $"{family}_coopmat_d{headDim}_{tile.M}x{tile.N}x{tile.K}"
            : Lanes > 1 ? $"{family}_d{headDim}_split"
            : RowsPerInvocation == 1 ? $"{family}_d{headDim}{(RolledHeadDim ? "_rolled" : "")}" : $"{family}_rows{RowsPerInvocation}_d{headDim}";
        return name + inputs.VariantSuffix();
    }
}
