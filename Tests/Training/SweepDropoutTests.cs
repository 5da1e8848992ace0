using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Experiments;

namespace VkDiffusion.Tests.Training;

public sealed class SweepDropoutTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("vkdiff-dropout-").FullName;

    private string WriteSpec(string extraKeys) => SweepSpecFiles.Write(root, extraKeys);

    [Fact]
    public void The_spec_dropout_reaches_every_runs_model_and_defaults_to_none()
    {
        SweepSpec spec = SweepSpec.Load(WriteSpec(", \"dropout\": 0.1"));
        Assert.All(Sweep.Expand(spec), run => Assert.Equal(0.1f, Sweep.Options(spec, run, "bytes").Model.Dropout));
        SweepSpec plain = SweepSpec.Load(WriteSpec(""));
        Assert.Equal(0f, Sweep.Options(plain, Sweep.Expand(plain)[0], "bytes").Model.Dropout);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("-0.1")]
    public void A_dropout_outside_zero_to_one_is_refused_naming_the_key(string dropout)
    {
        var error = Assert.Throws<InvalidInputException>(() => SweepSpec.Load(WriteSpec($", \"dropout\": {dropout}")));
        Assert.Contains("dropout must be in [0, 1)", error.Message);
    }

    public void Dispose() => Directory.Delete(root, recursive: true);
}
