using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// Block sizes of the fused attention kernels for one device and head dim. Each invocation owns
/// RowsPerInvocation rows (register blocking; a build-time variant: 1, or on CPU devices 8 for head dims
/// up to 64 and 4 for 128), RowBlock invocations form a workgroup, and StageBlock rows of the other operand
/// are walked per step.
/// CPU devices (lavapipe): a workgroup runs as one thread looping over SIMD subgroups, and every buffer
/// or shared-memory load inside a loop is a per-lane loop there (lavapipe broadcasts a uniform load only
/// outside all control flow), so the loads, not the arithmetic, set the speed; owning 8 rows makes each
/// loaded element of the other operand feed 8 rows' multiply-adds. Workgroups are one subgroup wide
/// (8 invocations on lavapipe, at least 8), so a 64-row workgroup lets short and causal sequences spread
/// over the cores. The other operand is read in place (StageInShared false): lavapipe's shared memory is
/// ordinary memory and barriers make the subgroups coroutines.
/// GPUs: one row per invocation, 64-invocation workgroups (two 32-wide or one 64-wide wave), and the
/// other operand staged in shared memory; the staging block is the largest power of two up to 64 whose
/// buffers fit in min(shared memory, 32 KiB), leaving room for a second resident workgroup on 48-64 KiB GPUs.
/// VKDIFF_ATTENTION_SHARED=1 or 0 forces staging on or off (the row blocking stays the device's).
/// TexelLoads: qkv (and dO in the dK/dV pass) are read through texel buffers, which a CPU device fetches
/// for all SIMD lanes with one vector gather instead of a loop over the lanes; on by default on CPU
/// devices whose texel limit covers a storage binding, VKDIFF_ATTENTION_TEXELS=1 or 0 forces it.
/// Nothing depends on the subgroup size for correctness.
/// CooperativeMatrixTile set: the cooperative-matrix kernels (attention_coopmat.glsl), with CooperativeSubgroups
/// subgroups of Tile.M rows per workgroup (RowBlock is then the workgroup size) and build-time staging blocks.
/// </summary>
public readonly record struct AttentionBlocks(uint RowBlock, uint StageBlock, bool StageInShared, uint RowsPerInvocation = 1, bool TexelLoads = false,
    (uint M, uint N, uint K)? CooperativeMatrixTile = null)
{
    private const uint SharedBudgetBytes = 32 * 1024;

    // Subgroups per workgroup of the cooperative-matrix kernels and rows of the other operand per step: SUBGROUPS and
    // BLOCK in attention_coopmat.glsl, keep in step.
    private const uint CooperativeSubgroups = 2;
    private static uint CooperativeBlock(int headDim) => headDim <= 64 ? 32u : 16u;

    public static AttentionBlocks For(DeviceInfo device, int headDim)
    {
        uint rowBlock = Math.Min(device.IsCpu ? Math.Max(8u, device.SubgroupSize) : 64u, device.MaxComputeWorkGroupInvocations);
        uint budget = Math.Min(device.SharedMemoryBytes, SharedBudgetBytes);
        // The dK/dV pass stages the most: Q and dO rows plus one LSE and one delta per row.
        uint bytesPerStagedRow = (uint)(2 * headDim + 2) * sizeof(float);
        uint stageBlock = 64;
        while (stageBlock > 1 && stageBlock * bytesPerStagedRow > budget) stageBlock /= 2;
        bool stageInShared = Environment.GetEnvironmentVariable("VKDIFF_ATTENTION_SHARED") switch
        {
            "1" => true,
            "0" => false,
            _ => !device.IsCpu,
        };
        uint rowsPerInvocation = !device.IsCpu ? 1u : headDim <= 64 ? 8u : 4u;
        bool texelLoads = Environment.GetEnvironmentVariable("VKDIFF_ATTENTION_TEXELS") switch
        {
            "1" => true,
            "0" => false,
            _ => device.IsCpu && (ulong)device.MaxTexelBufferElements * sizeof(float) >= device.MaxStorageBufferRange,
        };
        return new AttentionBlocks(rowBlock, stageBlock, stageInShared, rowsPerInvocation, texelLoads);
    }

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
    public uint RowsPerGroup => CooperativeMatrixTile is { } tile ? CooperativeSubgroups * tile.M : RowBlock * RowsPerInvocation;

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
    /// variants exist for RowsPerInvocation 1 with every head dim, 8 with head dims 16-64 and 4 with 128.
    /// The cooperative-matrix kernels are family_coopmat_d{headDim}_{M}x{N}x{K}, for the tiles MatmulKernels offers.
    /// 16-bit qkv adds _f16 or _bf16 (storage-buffer loads only; the cooperative-matrix kernels have _f16 alone).</summary>
    public string KernelName(string family, int headDim, Precision inputs = Precision.Fp32)
    {
        string name = CooperativeMatrixTile is { } tile ? $"{family}_coopmat_d{headDim}_{tile.M}x{tile.N}x{tile.K}"
            : RowsPerInvocation == 1 ? $"{family}_d{headDim}" : $"{family}_rows{RowsPerInvocation}_d{headDim}";
        return name + inputs.VariantSuffix();
    }
}
