using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.SelfTest.Checks;

/// <summary>
/// <see cref="CorruptionKernels"/> (the MDM forward process) against <see cref="CorruptionReference"/>, at
/// one token, odd and aligned sequence lengths. The masks, corrupted tokens and t_b are Philox bits and fp32
/// compares, identical on both sides (as Tests/Runtime/CorruptionTests require): error = mismatched
/// elements (a position counts when its token or its mask, read as weight != 0, differs), tolerance 0.
/// The weight 1 / p_b is a GPU division, which Vulkan bounds to 2.5 ulp: error = the largest difference in
/// ulps of the reference weight, tolerance 3.
/// </summary>
internal sealed class CorruptionCheck : ISelfTestCheck
{
    private const ulong Seed = 0xC0FFEE0000000001ul;
    private const uint RandomStep = 12;
    private const uint MaskId = 50257;

    // (batch, sequence length)
    private static readonly (int Batch, int Length)[] Shapes = [(1, 1), (7, 33), (3, 127), (4, 1024)];

    public string Name => "mdm_corrupt";

    public IEnumerable<SelfTestResult> Run(GpuContext context)
    {
        foreach (var (batchCount, sequenceLength) in Shapes)
            foreach (SelfTestResult result in RunCase(context, batchCount, sequenceLength)) yield return result;
    }

    private IEnumerable<SelfTestResult> RunCase(GpuContext context, int batchCount, int sequenceLength)
    {
        int count = batchCount * sequenceLength;
        var random = new Random(sequenceLength);
        uint[] tokens = Enumerable.Range(0, count).Select(_ => (uint)random.Next((int)MaskId)).ToArray();
        using GpuBuffer tokenBuffer = context.Upload<uint>(tokens, "selftest-tokens");
        using GpuBuffer scalars = context.Upload<StepScalars>([new StepScalars { RandomStep = RandomStep, Seed = Seed }], "selftest-step-scalars");
        using GpuBuffer corrupted = context.Allocate<uint>(count, "selftest-corrupted"), weights = context.Allocate<float>(count, "selftest-weights");
        using GpuBuffer tValues = context.Allocate<float>(batchCount, "selftest-t");
        context.Execute(c => CorruptionKernels.Corrupt(c, tokenBuffer.Whole, scalars.Whole, corrupted.Whole, weights.Whole, tValues.Whole,
            batchCount, sequenceLength, MaskId));

        CorruptionReference.Result expected = CorruptionReference.Corrupt(tokens, Seed, RandomStep, batchCount, sequenceLength, MaskId);
        uint[] actualTokens = context.Download<uint>(corrupted);
        float[] actualWeights = context.Download<float>(weights);
        int mismatches = 0;
        double worstUlps = 0;
        for (int i = 0; i < count; i++)
        {
            if (actualTokens[i] != expected.Corrupted[i] || (actualWeights[i] != 0f) != expected.Masked[i]) mismatches++;
            double ulp = MathF.BitIncrement(expected.Weights[i]) - expected.Weights[i];
            double difference = Math.Abs((double)actualWeights[i] - expected.Weights[i]);
            // An unmasked position must weigh exactly 0; any other value fails (infinite ulps), NaN included.
            double ulps = expected.Masked[i] ? difference / ulp : difference == 0 ? 0 : double.PositiveInfinity;
            worstUlps = double.IsNaN(ulps) || double.IsNaN(worstUlps) ? double.NaN : Math.Max(worstUlps, ulps);
        }
        string shape = $"batch={batchCount} length={sequenceLength}";
        yield return new SelfTestResult(Name, $"tokens and masks {shape} (mismatched elements)", mismatches, 0);
        yield return new SelfTestResult(Name, $"t {shape} (mismatched elements)",
            SelfTestMeasure.BitMismatches(context.Download<float>(tValues), expected.TValues), 0);
        yield return new SelfTestResult(Name, $"weights 1/p {shape} (max ulps)", worstUlps, 3);
    }
}
