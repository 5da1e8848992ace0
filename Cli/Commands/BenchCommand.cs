using CommandLine;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Cli.Commands;

[Verb("bench", HelpText = "Benchmark the device: `bench kernels` times every kernel case against the measured roofline.")]
public sealed class BenchCommand : ICommand
{
    [Value(0, MetaName = "mode", Required = true, HelpText = "What to benchmark: kernels.")]
    public string Mode { get; set; } = "";

    [Option("json", HelpText = "Print one JSON object (device, roofline, cases) instead of a table.")]
    public bool Json { get; set; }

    [Option("device", HelpText = "Device index or name substring (default: VKDIFF_DEVICE, else the best device).")]
    public string? Device { get; set; }

    [Option("quick", HelpText = "Run a trimmed set of cases (about a minute on lavapipe).")]
    public bool Quick { get; set; }

    [Option("filter", HelpText = "Run only the cases whose name contains this text (e.g. square1024).")]
    public string? Filter { get; set; }

    public int Run() => Mode.Trim().ToLowerInvariant() switch
    {
        "kernels" => new BenchKernels(Device, Json, Quick, Filter).Run(),
        _ => throw new InvalidInputException($"unknown bench mode '{Mode}'; the modes are: kernels."),
    };
}
