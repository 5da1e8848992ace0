using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Tests.Training;

public sealed class MetricsLogTests
{
    private static MetricsRecord Record(long step, double trainLoss, double? validationLoss = null) =>
        new(step, step / 10.0, step * 64, trainLoss, validationLoss, 1e-3, 0.5, 1000, step);

    [Fact]
    public void A_line_torn_by_a_crash_is_dropped_and_the_log_continues_cleanly()
    {
        using var temp = new TemporaryDirectory();
        var log = new MetricsLog(temp.File("metrics.jsonl"));
        log.Append(Record(1, 5.5));
        log.Append(Record(2, 5.25, 5.75));
        File.AppendAllText(log.Path, "{\"step\":3,\"epoch\":0.3,\"tok");

        Assert.Equal([Record(1, 5.5), Record(2, 5.25, 5.75)], MetricsLog.Read(log.Path));
        log.TruncateAfter(2);
        log.Append(Record(3, 5.0));
        Assert.Equal([Record(1, 5.5), Record(2, 5.25, 5.75), Record(3, 5.0)], MetricsLog.Read(log.Path));
    }

    [Fact]
    public void A_bad_line_before_the_last_names_its_line_and_non_finite_losses_round_trip()
    {
        using var temp = new TemporaryDirectory();
        var log = new MetricsLog(temp.File("metrics.jsonl"));
        log.Append(Record(1, double.PositiveInfinity, double.NaN));
        Assert.Equal([Record(1, double.PositiveInfinity, double.NaN)], MetricsLog.Read(log.Path));

        File.AppendAllText(log.Path, "garbage\n");
        log.Append(Record(3, 5.0));
        Assert.Contains("metrics.jsonl:2", Assert.Throws<InvalidInputException>(() => MetricsLog.Read(log.Path)).Message);
    }
}
