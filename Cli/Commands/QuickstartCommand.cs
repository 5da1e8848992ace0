using CommandLine;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Experiments;

namespace VkDiffusion.Cli.Commands;

[Verb("quickstart", HelpText = "The main job: train MDM and AR on a small unique-token budget for many epochs and compare them.")]
public sealed class QuickstartCommand : ICommand
{
    [Option("out", Default = "runs/quickstart", HelpText = "Output directory.")]
    public string Out { get; set; } = "runs/quickstart";

    [Option("data", HelpText = "A prepared dataset (default: the shipped GCIDE excerpt, byte tokens).")]
    public string? Data { get; set; }

    [Option("model", HelpText = "Model preset (default tiny).")]
    public string? Preset { get; set; }

    [Option("unique-tokens", HelpText = "Unique-token budget U (default 30000).")]
    public long? UniqueTokens { get; set; }

    [Option("epochs", HelpText = "Epochs (default 64).")]
    public int? Epochs { get; set; }

    [Option("seq-len", HelpText = "Sequence length (default 128).")]
    public int? SequenceLength { get; set; }

    [Option("batch", HelpText = "Batch size (default 16).")]
    public int? Batch { get; set; }

    [Option("device", HelpText = "Vulkan device index or name substring.")]
    public string? Device { get; set; }

    public int Run()
    {
        var defaults = new QuickstartOptions { OutputDirectory = Out };
        var options = defaults with
        {
            DataDirectory = Data,
            Preset = Preset ?? defaults.Preset,
            UniqueTokens = UniqueTokens ?? defaults.UniqueTokens,
            Epochs = Epochs ?? defaults.Epochs,
            SequenceLength = SequenceLength ?? defaults.SequenceLength,
            BatchSize = Batch ?? defaults.BatchSize,
        };
        using var interruption = new Interruption();
        using GpuContext context = GpuContext.Create(Device);
        Quickstart.Run(context, options, Console.Out, interruption.Token);
        return ExitCodes.Success;
    }
}
