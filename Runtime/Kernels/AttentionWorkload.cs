using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// Which attention implementation a benchmark records: the fused fp32 kernels, the fused cooperative-matrix kernels
/// (VKDIFF_ATTENTION=coopmat), or the unfused baseline.
/// </summary>
public enum AttentionImplementation { Fused, Unfused, FusedCooperativeMatrix }

/// <summary>
/// The buffers of one attention problem (random qkv and dOutput; outputs, gradients and each
/// implementation's extra memory) and the recording of its forward or forward+backward pass, shared by
/// <see cref="AttentionBenchmark"/> and the BenchmarkDotNet class.
/// </summary>
public sealed class AttentionWorkload : IDisposable
{
    private readonly GpuContext context;
    private readonly GpuBuffer qkv, output, outputGrad, qkvGrad, logSumExp, scratch;
    private GpuBuffer? scores, scoreGrad;

    public AttentionWorkload(GpuContext context, int batchCount, int sequenceLength, int headCount, int headDim, bool causal, int seed = 1)
    {
        this.context = context;
        (BatchCount, SequenceLength, HeadCount, HeadDim, Causal) = (batchCount, sequenceLength, headCount, headDim, causal);
        long rowFloats = (long)batchCount * sequenceLength * headCount * headDim;
        var random = new Random(seed);
        qkv = context.Upload<float>(RandomValues(random, 3 * rowFloats), "attention.qkv");
        outputGrad = context.Upload<float>(RandomValues(random, rowFloats), "attention.dOutput");
        output = context.Allocate<float>(rowFloats, "attention.output");
        qkvGrad = context.Allocate<float>(3 * rowFloats, "attention.dQkv");
        logSumExp = context.Allocate<float>((long)batchCount * headCount * sequenceLength, "attention.logSumExp");
        scratch = context.Allocate<byte>(AttentionKernels.ScratchBytes(batchCount, sequenceLength, headCount), "attention.scratch");
    }

    public int BatchCount { get; }
    public int SequenceLength { get; }
    public int HeadCount { get; }
    public int HeadDim { get; }
    public bool Causal { get; }

    /// <summary>
    /// Bytes an implementation needs beyond the inputs, the output and the gradients both share: fused, the
    /// per-row LSE (and delta for the backward), O(T); unfused, the T×T probabilities (and dP/dS for the backward).
    /// </summary>
    public long ExtraBytes(AttentionImplementation implementation, bool backward) => implementation switch
    {
        AttentionImplementation.Fused or AttentionImplementation.FusedCooperativeMatrix => logSumExp.ByteLength + (backward ? scratch.ByteLength : 0),
        _ => UnfusedAttention.ScoresBytes(BatchCount, SequenceLength, HeadCount) * (backward ? 2 : 1),
    };

    /// <summary>Attention FLOPs by the usual convention: 4·B·H·T²·d forward (half when causal), backward 2.5× forward.</summary>
    public double Flops(bool backward)
    {
        double forward = 4.0 * BatchCount * HeadCount * SequenceLength * (double)SequenceLength * HeadDim * (Causal ? 0.5 : 1.0);
        return backward ? 3.5 * forward : forward;
    }

    public void Record(CommandList c, AttentionImplementation implementation, bool backward)
    {
        int B = BatchCount, T = SequenceLength, H = HeadCount, D = HeadDim;
        if (implementation != AttentionImplementation.Unfused)
        {
            using var path = AttentionKernels.Override(implementation == AttentionImplementation.Fused ? AttentionPath.Fp32 : AttentionPath.CooperativeMatrix);
            AttentionKernels.Forward(c, qkv.Whole, output.Whole, logSumExp.Whole, B, T, H, D, Causal);
            if (backward)
                AttentionKernels.Backward(c, qkv.Whole, output.Whole, logSumExp.Whole, outputGrad.Whole, qkvGrad.Whole, scratch.Whole, B, T, H, D, Causal);
            return;
        }
        long scoreFloats = UnfusedAttention.ScoresBytes(B, T, H) / sizeof(float);
        scores ??= context.Allocate<float>(scoreFloats, "attention.unfused.scores");
        UnfusedAttention.Forward(c, qkv.Whole, output.Whole, scores.Whole, B, T, H, D, Causal);
        if (!backward) return;
        scoreGrad ??= context.Allocate<float>(scoreFloats, "attention.unfused.dScores");
        UnfusedAttention.Backward(c, qkv.Whole, scores.Whole, outputGrad.Whole, qkvGrad.Whole, scoreGrad.Whole, B, T, H, D);
    }

    private static float[] RandomValues(Random random, long count)
    {
        var values = new float[count];
        for (long i = 0; i < count; i++) values[i] = 2 * random.NextSingle() - 1;
        return values;
    }

    public void Dispose()
    {
        context.WaitForSubmittedWork();
        foreach (GpuBuffer? buffer in new[] { qkv, output, outputGrad, qkvGrad, logSumExp, scratch, scores, scoreGrad }) buffer?.Dispose();
    }
}
