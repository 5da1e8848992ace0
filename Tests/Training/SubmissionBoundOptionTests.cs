using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Cli.Commands;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Experiments;

namespace VkDiffusion.Tests.Training;

public sealed class SubmissionBoundOptionTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("vkdiff-bound-").FullName;

    private string WriteSpec(string extraKeys) => SweepSpecFiles.Write(root, extraKeys);

    [Fact]
    public void The_sweep_spec_key_reaches_each_run_and_a_bound_that_is_not_positive_is_refused()
    {
        SweepSpec spec = SweepSpec.Load(WriteSpec(", \"max_submit_ms\": 250"));
        Assert.Equal(250, Sweep.Options(spec, Sweep.Expand(spec)[0], "bytes").MaxSubmitMilliseconds);
        Assert.Null(SweepSpec.Load(WriteSpec("")).MaxSubmitMilliseconds);

        var error = Assert.Throws<InvalidInputException>(() => SweepSpec.Load(WriteSpec(", \"max_submit_ms\": 0")));
        Assert.Contains("max_submit_ms must be a positive number", error.Message);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-3.0)]
    [InlineData(double.NaN)]
    public void Train_refuses_a_bound_that_is_not_positive_as_a_usage_error(double bound)
    {
        var error = Assert.Throws<VkDiffusionException>(() => new TrainCommand { MaxSubmitMilliseconds = bound }.BuildOptions());
        Assert.Equal(ExitCodes.Usage, error.ExitCode);
        Assert.Contains("--max-submit-ms", error.Message);
    }

    public void Dispose() => Directory.Delete(root, recursive: true);
}
