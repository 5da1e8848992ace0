using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.SelfTest.Checks;

/// <summary>
/// <see cref="AdamWKernels"/> for three steps (the paper's betas, lr 1e-2, weight decay 0.1, clip scale
/// 0.75) against <see cref="AdamWReference"/> (torch.optim.AdamW in double). Error: normwise relative
/// error of the total parameter change p3 - p0, so the small update is not hidden behind the parameter's
/// magnitude; tolerance 1e-4 (fp32 rounding of p, ~3e-8, is 3e-6 of a 1e-2 step; the update itself ~1e-6).
/// Where the device has 16-bit storage, the mixed-precision variants also write the parameter's fp16 or bf16 copy:
/// those cases add the share of copy elements that are not the updated parameter rounded to nearest even (must be 0).
/// </summary>
internal sealed class AdamWCheck : ISelfTestCheck
{
    public string Name => "adamw";

    public IEnumerable<SelfTestResult> Run(GpuContext context)
    {
        foreach (int count in new[] { 1, 4096, 100_003 })
            foreach (bool decay in new[] { true, false })
                yield return RunCase(context, count, decay, Precision.Fp32);
        foreach (Precision copy in new[] { Precision.Fp16, Precision.Bf16 })
            if (PrecisionFormat.MissingFeature(copy, context.Info) is null)
                yield return RunCase(context, 4099, applyWeightDecay: true, copy);
    }

    /// <param name="copyFormat">fp16 or bf16: the variant that also writes the parameter's 16-bit copy; fp32: the plain one.</param>
    private SelfTestResult RunCase(GpuContext context, int count, bool applyWeightDecay, Precision copyFormat)
    {
        const float clipScale = 0.75f;
        float[] initial = SelfTestMeasure.Normal(count, seed: count, std: 0.5f);
        using GpuBuffer parameters = context.Upload<float>(initial, "selftest-parameters");
        using GpuBuffer gradients = context.Allocate<float>(count, "selftest-gradients");
        using GpuBuffer firstMoment = context.Allocate<float>(count, "selftest-m"), secondMoment = context.Allocate<float>(count, "selftest-v");
        using GpuBuffer scalars = context.Allocate<StepScalars>(1, "selftest-step-scalars", MemoryKind.HostVisible);
        using GpuBuffer normAndScale = context.Upload<float>([1f, clipScale], "selftest-norm-and-scale");
        context.Execute(c =>
        {
            BasicKernels.Fill(c, firstMoment.Whole, 0f);
            BasicKernels.Fill(c, secondMoment.Whole, 0f);
        });
        double[] expected = initial.Select(p => (double)p).ToArray();
        double[] expectedFirst = new double[count], expectedSecond = new double[count];
        using GpuBuffer copy = context.Allocate<ushort>(count, "selftest-copy");
        using CommandList commands = context.CreateCommandList();
        AdamWKernels.Step(commands, parameters.Whole, gradients.Whole, firstMoment.Whole, secondMoment.Whole, scalars.Whole, normAndScale.Whole,
            count, applyWeightDecay, copyFormat == Precision.Fp32 ? null : (copy.Whole, copyFormat));
        for (uint step = 1; step <= 3; step++)
        {
            var stepScalars = new StepScalars
            {
                OptimizerStep = step, LearningRate = 1e-2f, Beta1 = 0.9f, Beta2 = 0.95f, Epsilon = 1e-8f, WeightDecay = 0.1f, ClipNorm = 1f,
            };
            float[] gradient = SelfTestMeasure.Normal(count, seed: 1000 * (int)step + count, std: 0.1f);
            context.Upload<float>(gradients.Whole, gradient);
            context.Upload<StepScalars>(scalars.Whole, [stepScalars]);
            context.Run(commands);
            AdamWReference.Step(expected, gradient, expectedFirst, expectedSecond, stepScalars, clipScale, applyWeightDecay);
        }
        float[] actual = context.Download<float>(parameters);
        var actualChange = new float[count];
        var expectedChange = new double[count];
        for (int i = 0; i < count; i++)
        {
            actualChange[i] = (float)((double)actual[i] - initial[i]);
            expectedChange[i] = expected[i] - initial[i];
        }
        double error = SelfTestMeasure.NormwiseRelativeError(actualChange, expectedChange);
        string what = $"count={count} 3 steps {(applyWeightDecay ? "with" : "without")} decay (error of p3 - p0";
        if (copyFormat == Precision.Fp32) return new SelfTestResult(Name, what + ")", error, 1e-4);
        ushort[] rounded = SixteenBitReference.Encode(actual, copyFormat), copied = context.Download<ushort>(copy);
        double wrongCopies = (double)rounded.Where((bits, i) => bits != copied[i]).Count() / count;
        return new SelfTestResult(Name, what + $" plus the share of wrong {copyFormat.Name()} copies)", error + wrongCopies, 1e-4);
    }
}
