using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.SelfTest;
using VkDiffusion.Runtime.SelfTest.Checks;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Training;

// GradScaler's rule worked by hand on the plain C# reference: halve and count a skip on overflow (resetting the clean
// run), double after growth-interval clean steps, collapse below 2^-16. Then the device's loss scaler
// (Shaders/loss_scale.comp) against that reference through its self-test check.
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
    public void The_device_scaler_follows_the_rule_and_opens_a_step_with_the_scale_and_the_applied_step()
    {
        // The self-test check runs both kernels against the reference (an overflow run below 2^0 and back; the write
        // of step 20 after 7 skips at 2^-3 into a step-scalar block): every case must match exactly.
        SelfTestResult[] results = new LossScaleCheck().Run(Context).ToArray();
        Assert.Equal(2, results.Length);
        Assert.All(results, result => Assert.True(result.Passed, $"{result.Case}: {result.Failure}"));
    }
}
