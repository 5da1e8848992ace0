using CommandLine;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Cli.Commands;

[Verb("bench", HelpText = "Benchmark the device: `bench kernels` times every kernel case against the measured roofline; `bench step` times a whole training step.")]
public sealed class BenchCommand : ICommand
{
    [Value(0, MetaName = "mode", Required = true, HelpText = "What to benchmark: kernels or step.")]
    public string Mode { get; set; } = "";

    [Option("json", HelpText = "Print one JSON object (device, roofline, cases) instead of a table.")]
    public bool Json { get; set; }

    [Option("device", HelpText = "Device index or name substring (default: VKDIFF_DEVICE, else the best device).")]
    public string? Device { get; set; }

    [Option("quick", HelpText = "Run a trimmed set of cases (about a minute on lavapipe).")]
    public bool Quick { get; set; }

    [Option("filter", HelpText = "kernels: run only the cases whose name contains this text (e.g. square1024).")]
    public string? Filter { get; set; }

    [Option("model", Default = "7M", HelpText = "step: model preset.")]
    public string Model { get; set; } = "7M";

    [Option("objective", Default = VkDiffusion.Model.Objective.Mdm, HelpText = "step: mdm or ar.")]
    public VkDiffusion.Model.Objective Objective { get; set; }

    [Option("vocab", Default = "bytes", HelpText = "step: bytes or gpt2.")]
    public string Vocabulary { get; set; } = "bytes";

    [Option("seq", Default = 256, HelpText = "step: sequence length.")]
    public int SequenceLength { get; set; }

    [Option("batch", Default = 8, HelpText = "step: batch size.")]
    public int Batch { get; set; }

    [Option("steps", Default = 5, HelpText = "step: timed steps after the first.")]
    public int Steps { get; set; }

    [Option("max-submit-ms", HelpText = "step: " + MaxSubmitFlag.HelpText)]
    public double? MaxSubmitMilliseconds { get; set; }

    [Option("precision", HelpText = "step: " + PrecisionFlag.HelpText)]
    public string? Precision { get; set; }

    public int Run() => Mode.Trim().ToLowerInvariant() switch
    {
        "kernels" => new BenchKernels(Device, Json, Quick, Filter).Run(),
        "step" => new BenchStep(Device, Json, Model, Objective, Vocabulary, SequenceLength, Batch, Steps,
            MaxSubmitFlag.Check(MaxSubmitMilliseconds), Precision).Run(),
        _ => throw new InvalidInputException($"unknown bench mode '{Mode}'; the modes are: kernels, step."),
    };
}
