using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.SelfTest.Checks;

/// <summary>
/// <see cref="CrossEntropyKernels"/> (training and evaluation variants) against the double reference
/// at the byte vocabulary (258), the padded GPT-2 vocabulary (50304) and, for every other number of lanes per row the
/// device's plan gives a vocabulary (a pipeline of its own), the smallest padded table of a learned BPE that gets it
/// (576 rows, bpe512's, and up), with odd row counts and MDM-like
/// weights (0, 1, up to 1000). Normwise relative errors of the losses and of the gradient. Tolerance:
/// logsumexp's fp32 summation bound 4 * (vocab/256 + 40) * 2^-24 (see the kernel tests) plus 2^-21.
/// </summary>
internal sealed class CrossEntropyCheck : ISelfTestCheck
{
    public string Name => "cross_entropy";

    public IEnumerable<SelfTestResult> Run(GpuContext context)
    {
        (int VocabSize, int RowCount)[] cases = [(258, 1), (258, 127), (50304, 7), (50304, 65)];
        var lanesTested = cases.Select(c => CrossEntropyKernels.LanesPerRow(context.Info, c.VocabSize)).ToHashSet();
        // The tables a learned BPE (`prepare --tokenizer bpeN`, N from 258 to 65535) can have: 320 to 65536 rows, a multiple of 64.
        IEnumerable<int> learnedTables = Enumerable.Range(5, 1020).Select(multiple => 64 * multiple)
            .Where(rows => lanesTested.Add(CrossEntropyKernels.LanesPerRow(context.Info, rows)));
        foreach (var (vocabSize, rowCount) in cases.Concat(learnedTables.Select(rows => (rows, 33))))
            foreach (SelfTestResult result in RunCase(context, vocabSize, rowCount)) yield return result;
    }

    private IEnumerable<SelfTestResult> RunCase(GpuContext context, int vocabSize, int rowCount)
    {
        float[] logits = SelfTestMeasure.Normal(rowCount * vocabSize, seed: vocabSize + rowCount, std: 3f);
        var random = new Random(rowCount);
        uint[] targets = Enumerable.Range(0, rowCount).Select(_ => (uint)random.Next(vocabSize)).ToArray();
        float[] weights = Enumerable.Range(0, rowCount).Select(row => row % 3 == 1 ? 0f : row % 3 == 2 ? 1000f : 1f).ToArray();
        if (rowCount == 1) weights[0] = 1f;
        float lossScale = 1f / rowCount;

        using GpuBuffer logitsBuffer = context.Upload<float>(logits, "selftest-logits");
        using GpuBuffer targetsBuffer = context.Upload<uint>(targets, "selftest-targets"), weightsBuffer = context.Upload<float>(weights, "selftest-weights");
        using GpuBuffer losses = context.Allocate<float>(rowCount, "selftest-losses"), nll = context.Allocate<float>(rowCount, "selftest-nll");
        context.Execute(c =>
        {
            CrossEntropyKernels.Forward(c, logitsBuffer.Whole, targetsBuffer.Whole, nll.Whole, rowCount, vocabSize);
            CrossEntropyKernels.ForwardBackward(c, logitsBuffer.Whole, targetsBuffer.Whole, weightsBuffer.Whole, losses.Whole, rowCount, vocabSize, lossScale);
        });
        var (expectedLosses, expectedGradient) = CrossEntropyReference.ForwardBackward(logits, targets, weights, rowCount, vocabSize, lossScale);
        double tolerance = 4 * (Math.Ceiling(vocabSize / 256.0) + 40) * Math.Pow(2, -24) + Math.Pow(2, -21);
        string shape = $"rows={rowCount} vocab={vocabSize}";
        yield return new SelfTestResult(Name, $"forward nll {shape}", SelfTestMeasure.NormwiseRelativeError(context.Download<float>(nll),
            CrossEntropyReference.Forward(logits, targets, rowCount, vocabSize)), tolerance);
        yield return new SelfTestResult(Name, $"fused loss {shape}", SelfTestMeasure.NormwiseRelativeError(context.Download<float>(losses), expectedLosses), tolerance);
        yield return new SelfTestResult(Name, $"fused gradient {shape}", SelfTestMeasure.NormwiseRelativeError(context.Download<float>(logitsBuffer), expectedGradient), tolerance);
    }
}
