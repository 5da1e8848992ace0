using CommandLine;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Experiments;

namespace VkDiffusion.Cli.Commands;

[Verb("sweep", HelpText = "Run every (objective, preset, unique tokens, epochs) combination of a spec; finished runs are skipped, interrupted ones resumed.")]
public sealed class SweepCommand : ICommand
{
    [Option("spec", Required = true, HelpText = "Sweep spec JSON (keys in docs/cli.md, \"Sweep spec\").")]
    public string Spec { get; set; } = "";

    [Option("out", Required = true, HelpText = "Sweep directory: runs/, results.csv, plots.")]
    public string Out { get; set; } = "";

    [Option("device", HelpText = "Vulkan device index or name substring.")]
    public string? Device { get; set; }

    [Option("max-submit-ms", HelpText = MaxSubmitFlag.HelpText + " Overrides the spec's max_submit_ms.")]
    public double? MaxSubmitMilliseconds { get; set; }

    public int Run()
    {
        double? maxSubmitMilliseconds = MaxSubmitFlag.Check(MaxSubmitMilliseconds);
        SweepSpec spec = SweepSpec.Load(Spec);
        if (maxSubmitMilliseconds is not null) spec = spec with { MaxSubmitMilliseconds = maxSubmitMilliseconds };
        using var interruption = new Interruption();
        using GpuContext context = GpuContext.Create(Device);
        Sweep.Run(context, spec, Out, Console.Out, interruption.Token);
        return ExitCodes.Success;
    }
}
