using VkDiffusion.Cli.Commands;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Trainer.Experiments;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Tests.Cli;

public sealed class TrainConfigTests
{
    private static readonly TrainingOptions Recorded = new()
    {
        Preset = "tiny",
        Model = ModelPresets.Get("tiny", VocabularySpec.Bytes) with { Layers = 4, Dropout = 0.1f },
        DataDirectory = "data",
        UniqueTokens = 1000,
    };

    [Fact]
    public void A_configs_model_block_is_trained_as_written_with_its_edits()
    {
        using var temp = new TemporaryDirectory();
        string config = temp.Write("config.json", Recorded.ToJson());
        TrainingOptions options = new TrainCommand { Config = config }.BuildOptions();
        Assert.Equal((4, 0.1f), (options.Model.Layers, options.Model.Dropout));
        Assert.Equal("custom", options.Preset);
        Assert.Equal(ModelPresets.Get("tiny", VocabularySpec.Bytes), new TrainCommand { Config = config, Preset = "tiny" }.BuildOptions().Model);
    }

    [Fact]
    public void Unknown_keys_in_a_config_or_a_sweep_spec_name_the_key_and_the_file()
    {
        using var temp = new TemporaryDirectory();
        string config = temp.Write("config.json", Recorded.ToJson().Replace("\"learning_rate\"", "\"learnig_rate\""));
        string message = Assert.Throws<InvalidInputException>(() => new TrainCommand { Config = config }.BuildOptions()).Message;
        Assert.Contains("learnig_rate", message);
        Assert.Contains(config, message);

        string spec = temp.Write("spec.json", """{"data": "d", "objectives": ["ar"], "presets": ["tiny"], "unique_tokens": [1000], "epochs": [1], "learnig_rate": 1}""");
        message = Assert.Throws<InvalidInputException>(() => SweepSpec.Load(spec)).Message;
        Assert.Contains("learnig_rate", message);
        Assert.Contains(spec, message);

        // A sweep has no flags: its errors name its keys.
        File.WriteAllText(spec, """{"data": "d", "objectives": ["ar"], "presets": ["tiny"], "unique_tokens": [1000], "epochs": [1], "sequence_length": 5000}""");
        Assert.Contains("sequence_length must be in [2, 2048], got 5000", Assert.Throws<InvalidInputException>(() => SweepSpec.Load(spec)).Message);
    }
}
