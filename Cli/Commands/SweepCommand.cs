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

    public int Run()
    {
        SweepSpec spec = SweepSpec.Load(Spec);
        using var interruption = new Interruption();
        using GpuContext context = GpuContext.Create(Device);
        Sweep.Run(context, spec, Out, Console.Out, interruption.Token);
        return ExitCodes.Success;
    }
}
