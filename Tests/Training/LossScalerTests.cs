using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Tests.Training;

// GradScaler's rule worked by hand: halve and count a skip on overflow (resetting the clean run), double after
// growth-interval clean steps, collapse below 2^-16.
public sealed class LossScalerTests
{
    [Fact]
    public void Overflow_halves_and_clean_runs_double_the_scale()
    {
        var scaler = new LossScaler(LossScaler.Initial(65536), growthInterval: 3);
        Assert.Equal(new LossScaleState(16, 0, 0), scaler.State);
        Assert.True(scaler.Update(gradientsFinite: true));
        Assert.True(scaler.Update(gradientsFinite: true));
        Assert.False(scaler.Update(gradientsFinite: false));
        Assert.Equal(new LossScaleState(15, 0, 1), scaler.State);
        Assert.Equal(32768, scaler.Scale);
        scaler.Update(true);
        scaler.Update(true);
        Assert.Equal(new LossScaleState(15, 2, 1), scaler.State);
        scaler.Update(true);
        Assert.Equal(new LossScaleState(16, 0, 1), scaler.State);
    }

    [Fact]
    public void Overflow_at_every_scale_down_to_two_to_the_minus_16_collapses()
    {
        var scaler = new LossScaler(LossScaler.Initial(1), growthInterval: 2000);
        for (int step = 0; step < 16; step++) scaler.Update(false);
        Assert.False(scaler.HasCollapsed);
        scaler.Update(false);
        Assert.True(scaler.HasCollapsed);
        Assert.Equal(17, scaler.State.SkippedSteps);
    }
}
