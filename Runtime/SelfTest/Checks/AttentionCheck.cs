using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.SelfTest.Checks;

/// <summary>
/// Fused <see cref="AttentionKernels"/> forward (output, log-sum-exp) and backward (dQKV) against
/// <see cref="AttentionReference"/> (double), at head dims 16, 32, 64, 128, each with T = 1, 33 (a partial
/// block) and 64, causal and bidirectional alternating so every head dim and every T meets both masks; one
/// or several batches and heads. Q, K, V ~ N(0, 1.5^2) and dOutput ~ N(0, 1), as in
/// Tests/Runtime/AttentionTests, whose element-wise bounds these are: outputs and LSE atol 2e-4 + rtol 1e-4
/// (a head-dim-term fp32 score error of up to ~1e-4, a few ulps of exp, T 2^-24 |v| of accumulation), the
/// gradient atol 2e-3 + rtol 1e-3 (one more factor ~10 in magnitude). Normwise relative error against
/// rtol + atol / max|reference|. Small T keeps the check fast on CPU devices.
/// The path the device uses runs every case (VKDIFF_ATTENTION respected; named in the case); where that is fp32 and
/// the device offers the cooperative-matrix kernels, they run every case too (on either, the cooperative-matrix path
/// leaves out head dims whose staging exceeds the device's shared memory: it refuses those with a message; and the
/// extra pass leaves out head dim 128 on CPU devices, where it only runs emulated and compiles for minutes). Their tolerance is
/// <see cref="AttentionHalfPrecisionBound"/>'s element-wise bound (fp16 rounding of every product operand and
/// product), as a normwise relative error.
/// Mixed precision's 16-bit qkv, where the device has 16-bit storage: on each path, fp16 and bf16 qkv (the
/// cooperative-matrix path: fp16 alone, bf16 runs the fp32 path's kernels there) at every head dim with T = 33, causal and
/// bidirectional in turn (on CPU devices head dim 128 is left out: minutes of compilation), against the reference on the
/// inputs as rounded to 16 bits, with the same tolerances: the 16-bit kernels compute exactly what the fp32 ones do.
/// </summary>
internal sealed class AttentionCheck : ISelfTestCheck
{
    private const float InputStd = 1.5f;
    private const double OutputAtol = 2e-4, OutputRtol = 1e-4;
    private const double GradAtol = 2e-3, GradRtol = 1e-3;
    private static readonly int[] SequenceLengths = [1, 33, 64];

    public string Name => "attention";

    public IEnumerable<SelfTestResult> Run(GpuContext context)
    {
        AttentionPath devicePath = AttentionKernels.ChoosePath();
        var paths = new List<AttentionPath> { devicePath };
        if (devicePath == AttentionPath.Fp32 && AttentionKernels.CooperativeMatrixBlocks(context, AttentionKernels.SupportedHeadDims[0], out _) is not null)
            paths.Add(AttentionPath.CooperativeMatrix);
        foreach (AttentionPath path in paths)
        {
            int caseIndex = 0;
            foreach (int headDim in AttentionKernels.SupportedHeadDims)
                foreach (int T in SequenceLengths)
                {
                    bool causal = caseIndex % 2 == 0;
                    // batch x heads: 1 x 1, 2 x 1, 1 x 3 in turn.
                    var (batchCount, headCount) = (caseIndex % 3) switch { 0 => (1, 1), 1 => (2, 1), _ => (1, 3) };
                    caseIndex++;
                    // Head dims whose staging exceeds the device's shared memory are refused by the path itself, not wrong.
                    if (path == AttentionPath.CooperativeMatrix && AttentionKernels.CooperativeMatrixBlocks(context, headDim, out _) is null) continue;
                    // On a CPU device (cooperative matrices only through an emulation layer) the head-dim-128 kernels take
                    // minutes to compile; the extra pass leaves them out, VKDIFF_ATTENTION=coopmat runs them.
                    if (path != devicePath && context.Info.DeviceType == DeviceInfo.CpuDeviceType && headDim > 64) continue;
                    foreach (SelfTestResult result in RunCase(context, path, Precision.Fp32, T, headDim, batchCount, headCount, causal)) yield return result;
                }
            foreach (Precision inputs in (Precision[])[Precision.Fp16, Precision.Bf16])
            {
                if (PrecisionFormat.MissingFeature(inputs, context.Info) is not null) continue;
                if (path == AttentionPath.CooperativeMatrix && inputs == Precision.Bf16) continue;
                foreach (int headDim in AttentionKernels.SupportedHeadDims)
                {
                    if (path == AttentionPath.CooperativeMatrix && AttentionKernels.CooperativeMatrixBlocks(context, headDim, out _) is null) continue;
                    if (context.Info.DeviceType == DeviceInfo.CpuDeviceType && headDim > 64) continue;
                    bool causal = headDim % 32 == 0;
                    foreach (SelfTestResult result in RunCase(context, path, inputs, 33, headDim, 1, 2, causal)) yield return result;
                }
            }
        }
    }

    // inputs: how qkv is stored (16-bit: rounded to nearest even, and the reference takes it as rounded).
    private IEnumerable<SelfTestResult> RunCase(GpuContext context, AttentionPath path, Precision inputs, int T, int headDim, int batchCount,
        int headCount, bool causal)
    {
        float[] qkv = SixteenBitReference.Round(SelfTestMeasure.Normal(batchCount * T * 3 * headCount * headDim, seed: T * 7 + headDim, std: InputStd),
            inputs);
        float[] dOutput = SelfTestMeasure.Normal(batchCount * T * headCount * headDim, seed: T + 1);
        using GpuBuffer qkvBuffer = inputs == Precision.Fp32 ? context.Upload<float>(qkv, "selftest-qkv")
            : context.Upload<ushort>(SixteenBitReference.Encode(qkv, inputs), "selftest-qkv");
        using GpuBuffer outGrad = context.Upload<float>(dOutput, "selftest-doutput");
        using GpuBuffer output = context.Allocate<float>(dOutput.Length, "selftest-output"), qkvGrad = context.Allocate<float>(qkv.Length, "selftest-dqkv");
        using GpuBuffer logSumExp = context.Allocate<float>(batchCount * headCount * T, "selftest-lse");
        using GpuBuffer scratch = context.Memory.Allocate(AttentionKernels.ScratchBytes(batchCount, T, headCount), "selftest-attention-scratch");
        using (AttentionKernels.Override(path))
            context.Execute(c =>
            {
                AttentionKernels.Forward(c, qkvBuffer.Whole, output.Whole, logSumExp.Whole, batchCount, T, headCount, headDim, causal, inputs);
                AttentionKernels.Backward(c, qkvBuffer.Whole, output.Whole, logSumExp.Whole, outGrad.Whole, qkvGrad.Whole, scratch.Whole,
                    batchCount, T, headCount, headDim, causal, inputs);
            });

        double[] qkvd = SelfTestMeasure.ToDouble(qkv), dOutputd = SelfTestMeasure.ToDouble(dOutput);
        var (expectedOutput, expectedLse) = AttentionReference.Forward(qkvd, batchCount, T, headCount, headDim, causal);
        double[] expectedGrad = AttentionReference.Backward(qkvd, dOutputd, batchCount, T, headCount, headDim, causal);
        var (outputTolerance, lseTolerance, gradTolerance) = path == AttentionPath.Fp32
            ? (SelfTestMeasure.NormwiseTolerance(OutputAtol, OutputRtol, expectedOutput), SelfTestMeasure.NormwiseTolerance(OutputAtol, OutputRtol, expectedLse),
                SelfTestMeasure.NormwiseTolerance(GradAtol, GradRtol, expectedGrad))
            : HalfPrecisionTolerances(qkvd, dOutputd, batchCount, T, headCount, headDim, causal, expectedOutput, expectedLse, expectedGrad);
        string storage = inputs == Precision.Fp32 ? "" : $", {inputs.Name()} qkv";
        string shape = $"T={T} head_dim={headDim} batch={batchCount} heads={headCount} {(causal ? "causal" : "bidirectional")} ({PathLabel(context, path, headDim)}{storage})";
        yield return new SelfTestResult(Name, $"output {shape}", SelfTestMeasure.NormwiseRelativeError(context.Download<float>(output), expectedOutput),
            outputTolerance);
        yield return new SelfTestResult(Name, $"logsumexp {shape}", SelfTestMeasure.NormwiseRelativeError(context.Download<float>(logSumExp), expectedLse),
            lseTolerance);
        yield return new SelfTestResult(Name, $"dqkv {shape}", SelfTestMeasure.NormwiseRelativeError(context.Download<float>(qkvGrad), expectedGrad),
            gradTolerance);
    }

    private static (double Output, double LogSumExp, double QkvGrad) HalfPrecisionTolerances(double[] qkv, double[] dOutput, int batchCount, int T,
        int headCount, int headDim, bool causal, double[] expectedOutput, double[] expectedLse, double[] expectedGrad)
    {
        var bounds = AttentionHalfPrecisionBound.Compute(qkv, dOutput, batchCount, T, headCount, headDim, causal);
        return (SelfTestMeasure.NormwiseTolerance(bounds.Output, expectedOutput), SelfTestMeasure.NormwiseTolerance(bounds.LogSumExp, expectedLse),
            SelfTestMeasure.NormwiseTolerance(bounds.QkvGrad, expectedGrad));
    }

    // "fp32", or "coopmat MxNxK" with the tile the kernels run on.
    private static string PathLabel(GpuContext context, AttentionPath path, int headDim) =>
        AttentionKernels.CooperativeMatrixBlocks(context, headDim, out _)?.CooperativeMatrixTile is { } tile && path == AttentionPath.CooperativeMatrix
            ? $"coopmat {tile.M}x{tile.N}x{tile.K}"
            : AttentionKernels.PathName(path);
}
