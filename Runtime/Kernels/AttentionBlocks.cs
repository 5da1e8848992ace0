using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// Block sizes of the fused attention kernels for one device and head dim. RowBlock rows (one per
/// invocation, = workgroup size) are owned in registers; StageBlock rows of the other operand are staged
/// in shared memory per step. CPU devices (lavapipe) get 32-row groups: a workgroup runs as one thread
/// looping over SIMD-8 subgroups, and smaller groups spread short sequences over more cores. GPUs get
/// 64 rows (two 32-wide or one 64-wide wave). The staging block is the largest power of two up to 64
/// whose buffers fit in min(shared memory, 32 KiB), leaving room for a second resident workgroup on
/// 48-64 KiB GPUs. CPU devices read the other operand in place at workgroup-uniform addresses instead of
/// staging it (StageInShared false): on lavapipe shared memory is ordinary memory, and dropping the
/// barriers roughly halved the forward's time there. VKDIFF_ATTENTION_SHARED=1 or 0 forces either path.
/// Nothing depends on the subgroup size.
/// </summary>
public readonly record struct AttentionBlocks(uint RowBlock, uint StageBlock, bool StageInShared, uint RowsPerInvocation = 1)
{
    private const uint SharedBudgetBytes = 32 * 1024;
    private const uint CpuRowsPerInvocation = 4;

    public static AttentionBlocks For(DeviceInfo device, int headDim)
    {
        uint rowBlock = Math.Min(device.IsCpu ? 32u : 64u, device.MaxComputeWorkGroupInvocations);
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
        return new AttentionBlocks(rowBlock, stageBlock, stageInShared, device.IsCpu ? CpuRowsPerInvocation : 1u);
    }

    /// <summary>Rows one workgroup owns.</summary>
    public uint RowsPerGroup => RowBlock * RowsPerInvocation;

    public uint GroupsFor(int sequenceLength) => (uint)((sequenceLength + RowsPerGroup - 1) / RowsPerGroup);

    /// <summary>The build-time variant of a fused attention kernel ("attention_fwd", ...) for these blocks.</summary>
    public string KernelName(string family, int headDim) =>
        RowsPerInvocation == 1 ? $"{family}_d{headDim}" : $"{family}_rows{RowsPerInvocation}_d{headDim}";
}
