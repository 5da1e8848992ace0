using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>Which fused attention kernels run: the fp32 ones everywhere unless VKDIFF_ATTENTION forces another.</summary>
public enum AttentionPath
{
    /// <summary>
    /// fp32 arithmetic throughout (attention_fwd, attention_bwd, attention_bwd_dq): the default on every device. Reads fp32
    /// qkv, or under mixed precision 16-bit qkv on the storage-buffer variants (<see cref="AttentionKernels.InputPrecision"/>).
    /// </summary>
    Fp32,
    /// <summary>
    /// The products on cooperative matrices (tensor cores, WMMA, XMX) with fp16 operands and fp32 accumulators and
    /// statistics (attention_*_coopmat); the tile shape is the cooperative-matrix matmul's. Opt-in until measured on GPUs.
    /// Reads fp32 or fp16 qkv; bf16 runs the fp32 path's storage-buffer variants instead (the device's fp16 shapes
    /// cannot hold bf16's range), as the bf16 matmul does.
    /// </summary>
    CooperativeMatrix,
}

/// <summary>
/// Fused scaled-dot-product attention (softmax(Q Kᵀ / √headDim) V), causal or bidirectional, forward and
/// backward, in O(T) memory: the T×T scores are recomputed block by block and never stored.
/// Layouts (row-major): qkv [batch, seq, 3, heads, headDim] (the fused QKV projection output:
/// Q of all heads | K of all heads | V of all heads per token), fp32 or, under mixed precision, fp16 or bf16 (the
/// inputs argument; <see cref="InputPrecision"/> says which the graph should feed); output and dOutput [batch, seq,
/// heads, headDim], logSumExp [batch, heads, seq] and dQkv (the qkv layout) are fp32 whatever qkv is: statistics,
/// accumulation and the gradient sums stay fp32, as in PyTorch AMP. Kernels: attention_fwd,
/// attention_bwd_delta, attention_bwd (dK, dV), attention_bwd_dq. Deterministic: every output element
/// is written by one invocation in a fixed order. The kernels are the fp32 ones or, with VKDIFF_ATTENTION=coopmat, their
/// cooperative-matrix twins (<see cref="AttentionPath"/>).
/// </summary>
public static class AttentionKernels
{
    public static IReadOnlyList<int> SupportedHeadDims { get; } = [16, 32, 64, 128];

    /// <summary>fp32 (default) | coopmat: the attention kernels on any device.</summary>
    public const string PathVariable = "VKDIFF_ATTENTION";

    private static readonly ThreadOverride<AttentionPath> forcedPath = new();

    /// <summary>
    /// Forces a path for attention recorded on this thread until the result is disposed, over the environment: the
    /// self-test and the benchmarks compare paths in one process.
    /// </summary>
    public static IDisposable Override(AttentionPath path) => forcedPath.Force(path);

    /// <summary>The path attention takes: fp32 unless VKDIFF_ATTENTION (or <see cref="Override"/>) forces one.</summary>
    public static AttentionPath ChoosePath()
    {
        if (forcedPath.Value is { } path) return path;
        string? forced = KernelSwitches.Get(PathVariable);
        return forced?.Trim().ToLowerInvariant() switch
        {
            null or "" or "fp32" => AttentionPath.Fp32,
            "coopmat" => AttentionPath.CooperativeMatrix,
            _ => throw new InvalidInputException($"{PathVariable}={forced} is not an attention path; use fp32 or coopmat."),
        };
    }

    /// <summary>The VKDIFF_ATTENTION value that selects <paramref name="path"/>.</summary>
    public static string PathName(AttentionPath path) => path == AttentionPath.Fp32 ? "fp32" : "coopmat";

    /// <summary>
    /// The blocks of the cooperative-matrix kernels on this device at this head dim, or null with the reason: the tile
    /// is the one the cooperative-matrix matmul uses (<see cref="MatmulKernels.CooperativeMatrixTile"/>).
    /// </summary>
    public static AttentionBlocks? CooperativeMatrixBlocks(GpuContext context, int headDim, out string whyNot)
    {
        if (MatmulKernels.CooperativeMatrixTile(context, out whyNot) is not { } tile) return null;
        return AttentionBlocks.ForCooperativeMatrix(context.Info, headDim, tile, context.Info.SubgroupSize, out whyNot);
    }

    /// <summary>
    /// The number format in which the path this thread's attention takes reads qkv when the run's matmul operands are
    /// <paramref name="precision"/>: fp32 in fp32; under fp16 and bf16 that format on the storage-buffer variants and
    /// the cooperative-matrix kernels (bf16 on the storage-buffer variants of the fp32 path: the cooperative-matrix
    /// kernels take fp16 only), but fp32 on the texel-buffer variants (the CPU default), which have no 16-bit texels.
    /// </summary>
    public static Precision InputPrecision(DeviceInfo device, int headDim, Precision precision)
    {
        if (precision == Precision.Fp32) return Precision.Fp32;
        if (ChoosePath() == AttentionPath.CooperativeMatrix) return precision;
        return AttentionBlocks.For(device, headDim).TexelLoads ? Precision.Fp32 : precision;
    }

    // The blocks of the path this thread's attention takes on qkv stored as inputs.
    private static AttentionBlocks BlocksFor(GpuContext context, int headDim, Precision inputs)
    {
        if (ChoosePath() == AttentionPath.Fp32 || inputs == Precision.Bf16)
        {
            AttentionBlocks blocks = AttentionBlocks.For(context.Info, headDim);
            return inputs == Precision.Fp32 ? blocks : blocks with { TexelLoads = false };
        }
        return CooperativeMatrixBlocks(context, headDim, out string whyNot)
            ?? throw new InvalidInputException($"{PathVariable}=coopmat: {whyNot}; unset {PathVariable}.");
    }

    // 16-bit qkv is read from storage buffers only: the runtime's texel views are fp32, and bf16 has no texel format. Split
    // rows need a device whose subgroups hold whole clusters of lanes.
    private static void RequireRunnable(DeviceInfo device, AttentionBlocks blocks, int headDim, Precision inputs)
    {
        if (inputs != Precision.Fp32 && blocks.TexelLoads)
            throw new ArgumentException($"attention: {inputs.Name()} qkv is read from storage buffers, not texel buffers", nameof(blocks));
        if (blocks.Lanes > 1 && !AttentionBlocks.SplitSupport(device, headDim, out string whyNot))
            throw new ArgumentException($"attention: split rows cannot run here: {whyNot}", nameof(blocks));
    }

    private const uint DeltaWorkgroupSize = 256;
    private const uint MaxDeltaGroups = 4096;

    private readonly record struct FusedPush(uint SequenceLength, uint HeadCount, uint Causal, uint QkvBase, uint OutBase,
        uint LseBase, uint DeltaBase, uint QkvGradBase);

    private readonly record struct DeltaPush(uint RowCount, uint SequenceLength, uint HeadCount, uint HeadDim, uint OutBase,
        uint OutGradBase, uint DeltaBase);

    /// <summary>
    /// output = attention(qkv); logSumExp = per-row log-sum-exp of the scaled scores (the backward needs it). qkv is
    /// stored as <paramref name="inputs"/> (fp32, fp16 or bf16).
    /// </summary>
    public static void Forward(CommandList c, BufferSlice qkv, BufferSlice output, BufferSlice logSumExp,
        int batchCount, int sequenceLength, int headCount, int headDim, bool causal, Precision inputs = Precision.Fp32) =>
        Forward(c, qkv, output, logSumExp, batchCount, sequenceLength, headCount, headDim, causal, inputs, int.MaxValue, null);

    /// <summary><see cref="Forward(CommandList, BufferSlice, BufferSlice, BufferSlice, int, int, int, int, bool, Precision)"/> with at most
    /// <paramref name="maxBatchesPerDispatch"/> batches per dispatch and the given blocks instead of the device's (tests
    /// use them to reach the chunked path cheaply and to run the GPU staging path on a CPU device).</summary>
    internal static void Forward(CommandList c, BufferSlice qkv, BufferSlice output, BufferSlice logSumExp,
        int batchCount, int sequenceLength, int headCount, int headDim, bool causal, Precision inputs, int maxBatchesPerDispatch,
        AttentionBlocks? blocksOverride)
    {
        var shape = new AttentionShape(batchCount, sequenceLength, headCount, headDim, inputs.ElementBytes());
        shape.Require(qkv, shape.QkvBytesPerBatch, "qkv");
        shape.Require(output, shape.RowBytesPerBatch, "output");
        shape.Require(logSumExp, shape.LseBytesPerBatch, "logSumExp");
        AttentionBlocks blocks = blocksOverride ?? BlocksFor(c.Context, headDim, inputs);
        RequireRunnable(c.Context.Info, blocks, headDim, inputs);
        foreach (BatchChunk chunk in shape.Chunks(c.Context.Info, maxBatchesPerDispatch, blocks.TexelLoads))
        {
            var (qkvWindow, qkvBase) = chunk.Window(qkv, shape.QkvBytesPerBatch, shape.QkvElementBytes);
            TexelFormat texelMode = blocks.TexelMode((qkvBase, qkvWindow.Length));
            Kernel kernel = c.Context.Kernels.Get(blocks.KernelName("attention_fwd", headDim, inputs), blocks.Specialization(texelMode));
            var (outWindow, outBase) = chunk.Window(output, shape.RowBytesPerBatch);
            var (lseWindow, lseBase) = chunk.Window(logSumExp, shape.LseBytesPerBatch);
            var push = new FusedPush((uint)sequenceLength, (uint)headCount, causal ? 1u : 0u, qkvBase, outBase, lseBase, 0, 0);
            c.Dispatch(kernel, blocks.GroupsFor(sequenceLength), (uint)(chunk.Count * headCount), 1, push,
                new Binding(qkvWindow, Writes: false, texelMode), Binding.Write(outWindow), Binding.Write(lseWindow));
        }
    }

    /// <summary>Bytes <see cref="Backward"/> needs in its scratch buffer: delta, one float per [batch, head, seq] row.</summary>
    public static long ScratchBytes(int batchCount, int sequenceLength, int headCount) =>
        (long)batchCount * headCount * sequenceLength * sizeof(float);

    /// <summary>
    /// dQkv = gradient of the attention output with respect to qkv (stored as <paramref name="inputs"/>), given dOutput
    /// and the forward's output and logSumExp; dQkv is fp32 and overwritten (not accumulated). scratch receives
    /// delta = rowsum(dOutput ∘ output).
    /// </summary>
    public static void Backward(CommandList c, BufferSlice qkv, BufferSlice output, BufferSlice logSumExp, BufferSlice dOutput,
        BufferSlice dQkv, BufferSlice scratch, int batchCount, int sequenceLength, int headCount, int headDim, bool causal,
        Precision inputs = Precision.Fp32) =>
        Backward(c, qkv, output, logSumExp, dOutput, dQkv, scratch, batchCount, sequenceLength, headCount, headDim, causal, inputs, int.MaxValue, null);

    internal static void Backward(CommandList c, BufferSlice qkv, BufferSlice output, BufferSlice logSumExp, BufferSlice dOutput,
        BufferSlice dQkv, BufferSlice scratch, int batchCount, int sequenceLength, int headCount, int headDim, bool causal, Precision inputs,
        int maxBatchesPerDispatch, AttentionBlocks? blocksOverride)
    {
        var shape = new AttentionShape(batchCount, sequenceLength, headCount, headDim, inputs.ElementBytes());
        shape.Require(qkv, shape.QkvBytesPerBatch, "qkv");
        shape.Require(output, shape.RowBytesPerBatch, "output");
        shape.Require(logSumExp, shape.LseBytesPerBatch, "logSumExp");
        shape.Require(dOutput, shape.RowBytesPerBatch, "dOutput");
        shape.Require(dQkv, shape.QkvGradBytesPerBatch, "dQkv");
        shape.Require(scratch, shape.LseBytesPerBatch, "scratch");
        AttentionBlocks blocks = blocksOverride ?? BlocksFor(c.Context, headDim, inputs);
        RequireRunnable(c.Context.Info, blocks, headDim, inputs);
        KernelCache kernels = c.Context.Kernels;
        Kernel delta = kernels.Get("attention_bwd_delta", DeltaWorkgroupSize);
        foreach (BatchChunk chunk in shape.Chunks(c.Context.Info, maxBatchesPerDispatch, blocks.TexelLoads))
        {
            var (qkvWindow, qkvBase) = chunk.Window(qkv, shape.QkvBytesPerBatch, shape.QkvElementBytes);
            var (outWindow, outBase) = chunk.Window(output, shape.RowBytesPerBatch);
            var (outGradWindow, outGradBase) = chunk.Window(dOutput, shape.RowBytesPerBatch);
            var (lseWindow, lseBase) = chunk.Window(logSumExp, shape.LseBytesPerBatch);
            var (deltaWindow, deltaBase) = chunk.Window(scratch, shape.LseBytesPerBatch);
            var (qkvGradWindow, qkvGradBase) = chunk.Window(dQkv, shape.QkvGradBytesPerBatch);

            uint rowCount = (uint)(chunk.Count * headCount * sequenceLength);
            uint deltaGroups = Math.Clamp((rowCount + DeltaWorkgroupSize - 1) / DeltaWorkgroupSize, 1, MaxDeltaGroups);
            c.Dispatch(delta, deltaGroups, 1, 1,
                new DeltaPush(rowCount, (uint)sequenceLength, (uint)headCount, (uint)headDim, outBase, outGradBase, deltaBase),
                Binding.Read(outWindow), Binding.Read(outGradWindow), Binding.Write(deltaWindow));

            TexelFormat texelMode = blocks.TexelMode((qkvBase, qkvWindow.Length), (outGradBase, outGradWindow.Length));
            Kernel keyValue = kernels.Get(blocks.KernelName("attention_bwd", headDim, inputs), blocks.Specialization(texelMode));
            Kernel query = kernels.Get(blocks.KernelName("attention_bwd_dq", headDim, inputs), blocks.Specialization(texelMode));
            Binding qkvBinding = new(qkvWindow, Writes: false, texelMode), outGradBinding = new(outGradWindow, Writes: false, texelMode);
            var push = new FusedPush((uint)sequenceLength, (uint)headCount, causal ? 1u : 0u, qkvBase, outGradBase, lseBase, deltaBase, qkvGradBase);
            uint groupsY = (uint)(chunk.Count * headCount);
            c.Dispatch(keyValue, blocks.GroupsFor(sequenceLength), groupsY, 1, push, qkvBinding, Binding.Read(lseWindow),
                outGradBinding, Binding.Read(deltaWindow), Binding.Write(qkvGradWindow));
            c.Dispatch(query, blocks.GroupsFor(sequenceLength), groupsY, 1, push, qkvBinding, Binding.Read(lseWindow),
                outGradBinding, Binding.Read(deltaWindow), Binding.Write(qkvGradWindow));
        }
    }
}
