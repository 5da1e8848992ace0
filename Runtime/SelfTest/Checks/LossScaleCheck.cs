using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.SelfTest.Checks;

/// <summary>
/// <see cref="LossScaleKernels"/>: the update through a run of finite, infinite and NaN gradient norms that takes the
/// exponent below zero and back, step by step against <see cref="LossScaleReference"/>, and the write of the scale and
/// the applied-step count into a step-scalar block. Integer state: the error is the count of steps whose state differs
/// (update) or 1 when the block differs (apply); tolerance 0. A driver that folded away isnan/isinf would fail here.
/// </summary>
internal sealed class LossScaleCheck : ISelfTestCheck
{
    private const int GrowthInterval = 3;
    private static readonly float[] Norms =
        [0.5f, float.PositiveInfinity, float.NaN, float.NegativeInfinity, 2f, 1e30f, 3f, 4f, float.NaN, 1f, 1f, 1f, 0f];

    public string Name => "loss_scale";

    public IEnumerable<SelfTestResult> Run(GpuContext context)
    {
        yield return Update(context);
        yield return Apply(context);
    }

    private SelfTestResult Update(GpuContext context)
    {
        var expected = new LossScaleState(1, 0, 0);
        using GpuBuffer state = context.Upload<uint>(LossScaleKernels.Encode(expected, GrowthInterval), "selftest-loss-scale");
        using GpuBuffer normAndScale = context.Allocate<float>(2, "selftest-norm-and-scale");
        int wrongSteps = 0;
        string? firstWrong = null;
        foreach (float norm in Norms)
        {
            context.Upload<float>(normAndScale.Whole, [norm, 1f]);
            context.Execute(c => LossScaleKernels.Update(c, normAndScale.Whole, state.Whole));
            expected = LossScaleReference.Next(expected, float.IsFinite(norm), GrowthInterval);
            LossScaleState actual = LossScaleKernels.Decode(context.Download<uint>(state));
            if (actual == expected) continue;
            wrongSteps++;
            firstWrong ??= $"after norm {norm}: {actual}, expected {expected}";
        }
        return new SelfTestResult(Name, $"update, {Norms.Length} norms from 2^1, growth every {GrowthInterval}", wrongSteps, 0, firstWrong);
    }

    private SelfTestResult Apply(GpuContext context)
    {
        using GpuBuffer state = context.Upload<uint>(LossScaleKernels.Encode(new LossScaleState(-3, 5, 7), GrowthInterval), "selftest-loss-scale");
        StepScalars written = StepScalars.ForStep(optimizerStep: 20, randomStep: 11, seed: 0x1234_5678_9abc, learningRate: 0.25f);
        using GpuBuffer scalars = context.Upload<StepScalars>([written], "selftest-step-scalars");
        context.Execute(c => LossScaleKernels.Apply(c, state.Whole, scalars.Whole));
        StepScalars expected = written with { OptimizerStep = 13, LossScaleExponent = -3 };
        StepScalars actual = context.Download<StepScalars>(scalars)[0];
        bool same = actual.Equals(expected);
        return new SelfTestResult(Name, "apply, step 20 after 7 skipped, scale 2^-3", same ? 0 : 1, 0,
            same ? null : $"optimizer step {actual.OptimizerStep} (expected 13), exponent {actual.LossScaleExponent} (expected -3)");
    }
}
