using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Tests.Training;

public sealed class LearningRateScheduleTests
{
    [Fact]
    public void Warmup_is_linear_from_zero_and_cosine_reaches_the_minimum_at_the_end()
    {
        var schedule = new LearningRateSchedule(2e-4, 2e-5, WarmupSteps: 10, TotalSteps: 110);
        Assert.Equal(2e-5, schedule.At(0), 12);          // (0 + 1) / 10 of the peak
        Assert.Equal(1e-4, schedule.At(4), 12);          // halfway through warmup
        Assert.Equal(2e-4, schedule.At(10), 12);         // cosine starts at the peak
        Assert.Equal(1.1e-4, schedule.At(60), 12);       // half-way: (peak + min) / 2
        Assert.Equal(2e-5, schedule.At(110), 12);        // the end
        Assert.Equal(2e-5, schedule.At(500), 12);        // past the end it stays at the minimum
    }
}
