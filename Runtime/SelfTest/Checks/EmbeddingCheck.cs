using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.SelfTest.Checks;

/// <summary>
/// <see cref="EmbeddingKernels"/> lookup and its sorted, deterministic backward (overwriting and
/// accumulating) against <see cref="EmbeddingReference"/>, with vocabularies smaller than the token count so
/// ids repeat (one case where every token has the same id) and a power-of-two token count next to odd ones.
/// Normwise relative errors. Forward: a lookup copies bits, tolerance 0. Backward (the bound of
/// Tests/Runtime/EmbeddingTests): a row hit by n tokens is an fp32 sum of n gradients, within
/// n 2^-24 sum|dy| per element, and (n + 1) 2^-24 (sum|dy| + |old|) when added to the old value; the
/// tolerance is the largest such bound over max|reference|.
/// </summary>
internal sealed class EmbeddingCheck : ISelfTestCheck
{
    // (tokens, vocab rows, channels)
    private static readonly (int Tokens, int VocabRows, int Channels)[] Shapes = [(1, 3, 7), (33, 1, 33), (256, 13, 64), (1000, 258, 129)];

    public string Name => "embedding";

    public IEnumerable<SelfTestResult> Run(GpuContext context)
    {
        foreach (var (tokenCount, vocabRows, channelCount) in Shapes)
            foreach (SelfTestResult result in RunCase(context, tokenCount, vocabRows, channelCount)) yield return result;
    }

    private IEnumerable<SelfTestResult> RunCase(GpuContext context, int tokenCount, int vocabRows, int channelCount)
    {
        var random = new Random(tokenCount + vocabRows);
        uint[] tokens = Enumerable.Range(0, tokenCount).Select(_ => (uint)random.Next(vocabRows)).ToArray();
        float[] table = SelfTestMeasure.Normal(vocabRows * channelCount, seed: channelCount);
        float[] dy = SelfTestMeasure.Normal(tokenCount * channelCount, seed: tokenCount);
        float[] initial = SelfTestMeasure.Normal(vocabRows * channelCount, seed: vocabRows);

        using GpuBuffer tokenBuffer = context.Upload<uint>(tokens, "selftest-tokens"), tableBuffer = context.Upload<float>(table, "selftest-table");
        using GpuBuffer dyBuffer = context.Upload<float>(dy, "selftest-dy");
        using GpuBuffer y = context.Allocate<float>(tokenCount * channelCount, "selftest-y");
        using GpuBuffer scratch = context.Memory.Allocate(EmbeddingKernels.ScratchBytes(tokenCount), "selftest-embedding-scratch");
        using GpuBuffer overwritten = context.Allocate<float>(vocabRows * channelCount, "selftest-dtable");
        using GpuBuffer accumulated = context.Upload<float>(initial, "selftest-dtable-accumulate");
        context.Execute(c =>
        {
            EmbeddingKernels.Forward(c, tokenBuffer.Whole, tableBuffer.Whole, y.Whole, tokenCount, vocabRows, channelCount);
            EmbeddingKernels.Backward(c, tokenBuffer.Whole, dyBuffer.Whole, overwritten.Whole, scratch.Whole, tokenCount, vocabRows, channelCount, accumulate: false);
            EmbeddingKernels.Backward(c, tokenBuffer.Whole, dyBuffer.Whole, accumulated.Whole, scratch.Whole, tokenCount, vocabRows, channelCount, accumulate: true);
        });

        string shape = $"tokens={tokenCount} vocab={vocabRows} channels={channelCount}";
        double[] expectedY = EmbeddingReference.Forward(tokens, SelfTestMeasure.ToDouble(table), vocabRows, channelCount);
        yield return new SelfTestResult(Name, $"forward {shape}", SelfTestMeasure.NormwiseRelativeError(context.Download<float>(y), expectedY), 0);

        double[] expected = EmbeddingReference.Backward(tokens, SelfTestMeasure.ToDouble(dy), vocabRows, channelCount);
        double[] absolute = EmbeddingReference.Backward(tokens, Array.ConvertAll(dy, v => (double)Math.Abs(v)), vocabRows, channelCount);
        var hits = new int[vocabRows];
        foreach (uint token in tokens) hits[token]++;
        var bound = new double[expected.Length];
        var accumulateExpected = new double[expected.Length];
        var accumulateBound = new double[expected.Length];
        for (int i = 0; i < expected.Length; i++)
        {
            int n = hits[i / channelCount];
            bound[i] = n * Math.Pow(2, -24) * absolute[i];
            accumulateExpected[i] = initial[i] + expected[i];
            accumulateBound[i] = n == 0 ? 0 : (n + 1) * Math.Pow(2, -24) * (absolute[i] + Math.Abs(initial[i]));
        }
        yield return new SelfTestResult(Name, $"backward {shape}", SelfTestMeasure.NormwiseRelativeError(context.Download<float>(overwritten), expected),
            SelfTestMeasure.NormwiseTolerance(bound, expected));
        yield return new SelfTestResult(Name, $"backward accumulate {shape}",
            SelfTestMeasure.NormwiseRelativeError(context.Download<float>(accumulated), accumulateExpected),
            SelfTestMeasure.NormwiseTolerance(accumulateBound, accumulateExpected));
    }
}
