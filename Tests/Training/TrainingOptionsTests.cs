using VkDiffusion.Model;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Tests.Training;

public sealed class TrainingOptionsTests
{
    private static readonly TrainingOptions Valid = new() { Model = ModelPresets.Get("tiny", VocabularySpec.Bytes), DataDirectory = "data", UniqueTokens = 1000 };

    [Theory]
    [InlineData("--clip")]
    [InlineData("--eval-every")]
    [InlineData("--save-every")]
    [InlineData("--eval-batches")]
    [InlineData("--lr")]
    public void Every_out_of_range_option_is_refused_naming_the_flag(string option)
    {
        Valid.Validate();
        TrainingOptions invalid = option switch
        {
            "--clip" => Valid with { ClipNorm = -1 },
            "--eval-every" => Valid with { EvalEvery = -5 },
            "--save-every" => Valid with { SaveEvery = -1 },
            "--eval-batches" => Valid with { EvalWindows = 0 },
            _ => Valid with { LearningRate = double.PositiveInfinity },
        };
        Assert.Contains(option, Assert.Throws<InvalidInputException>(invalid.Validate).Message);
    }
}
