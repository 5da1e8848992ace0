using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Trainer.Experiments;

namespace VkDiffusion.Tests.Experiments;

public sealed class FitFileTests
{
    [Fact]
    public void A_fit_file_missing_a_constant_is_refused_rather_than_read_as_zero()
    {
        using var temp = new TemporaryDirectory();
        var stage = new StageReport(7, ["A"], 0.9, 1e-5, 10);
        var law = new ScalingLaw(60, 98, 0.48, 0.35, 0.35, 11.1, 25.9);
        string json = new FitFile("best_val_loss", new Dictionary<string, ObjectiveFit> { ["ar"] = new("ar", law, [], stage, stage, []) }).ToJson();
        string complete = temp.Write("fit.json", json), missing = temp.Write("missing.json", json.Replace("\"RDstar\": 11.1,", ""));

        Assert.Equal(law, FitFile.Read(complete).Law("ar"));
        Assert.Contains("RDstar", Assert.Throws<InvalidInputException>(() => FitFile.Read(missing)).Message);
    }
}
