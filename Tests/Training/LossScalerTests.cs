using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Training;

// GradScaler's rule worked by hand on the plain C# reference: halve and count a skip on overflow (resetting the clean
// run), double after growth-interval clean steps, collapse below 2^-16. Then the device's loss scaler
// (Shaders/loss_scale.comp) against that reference, step by step, and its start-of-step write into the step scalars.
public sealed class LossScalerTests(GpuFixture fixture) : GpuTest(fixture)
{
    [Fact]
    public void Overflow_halves_and_clean_runs_double_the_scale()
    {
        LossScaleState state = LossScaleState.Initial(65536);
        Assert.Equal(new LossScaleState(16, 0, 0), state);
        foreach (bool finite in new[] { true, true, false }) state = LossScaleReference.Next(state, finite, growthInterval: 3);
        Assert.Equal(new LossScaleState(15, 0, 1), state);
        Assert.Equal(32768, state.Scale);
        state = LossScaleReference.Next(LossScaleReference.Next(state, true, 3), true, 3);
        Assert.Equal(new LossScaleState(15, 2, 1), state);
        Assert.Equal(new LossScaleState(16, 0, 1), LossScaleReference.Next(state, true, 3));
    }

    [Fact]
    public void Overflow_at_every_scale_down_to_two_to_the_minus_16_collapses()
    {
        LossScaleState state = LossScaleState.Initial(1);
        for (int step = 0; step < 16; step++) state = LossScaleReference.Next(state, false, growthInterval: 2000);
        Assert.False(state.HasCollapsed);
        state = LossScaleReference.Next(state, false, 2000);
        Assert.True(state.HasCollapsed);
        Assert.Equal(17, state.SkippedSteps);
    }

    [Fact]
    public void The_device_scaler_follows_the_rule_through_overflows_clean_runs_and_negative_exponents()
    {
        const int growthInterval = 3;
        // From 2^1, overflows (infinite and NaN norms) drive the exponent below zero; clean runs bring it back.
        float[] norms = [0.5f, float.PositiveInfinity, float.NaN, float.NegativeInfinity, 2f, 1e30f, 3f, 4f, float.NaN, 1f, 1f, 1f, 0f];
        var expected = new LossScaleState(1, 0, 0);
        using GpuBuffer state = Context.Upload<uint>(LossScaleKernels.Encode(expected, growthInterval), "loss-scale-state");
        using GpuBuffer normAndScale = Context.Allocate<float>(2, "norm-and-scale");
        foreach (float norm in norms)
        {
            Context.Upload<float>(normAndScale.Whole, [norm, 1f]);
            Context.Execute(c => LossScaleKernels.Update(c, normAndScale.Whole, state.Whole));
            expected = LossScaleReference.Next(expected, float.IsFinite(norm), growthInterval);
            Assert.Equal(expected, LossScaleKernels.Decode(Context.Download<uint>(state)));
        }
        Assert.True(expected.Exponent < 0 && expected.SkippedSteps == 4, $"the sequence ended at {expected}");
    }

    [Fact]
    public void Opening_a_step_writes_the_scale_and_subtracts_the_skipped_steps_from_the_optimizer_step()
    {
        using GpuBuffer state = Context.Upload<uint>(LossScaleKernels.Encode(new LossScaleState(-3, 5, 7), growthInterval: 10), "loss-scale-state");
        StepScalars written = StepScalars.ForStep(optimizerStep: 20, randomStep: 11, seed: 0x1234_5678_9abc, learningRate: 0.25f);
        using GpuBuffer scalars = Context.Upload<StepScalars>([written], "step-scalars");
        Context.Execute(c => LossScaleKernels.Apply(c, state.Whole, scalars.Whole));
        Assert.Equal(written with { OptimizerStep = 13, LossScaleExponent = -3 }, Context.Download<StepScalars>(scalars)[0]);
    }
}
