using CommandLine;
using VkDiffusion.Runtime.SelfTest;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Experiments;

namespace VkDiffusion.Cli.Commands;

[Verb("sweep", HelpText = "Run every (objective, preset, unique tokens, epochs) combination of a spec; finished runs are skipped, interrupted ones resumed. " +
    "Several workers (--shard, a Slurm job array, or MPI ranks) split the runs between them (docs/cluster.md).")]
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

    [Option("shard", HelpText = "I/N: this worker runs the runs i with i mod N = I. Default: from SLURM_ARRAY_TASK_ID/COUNT (minus SLURM_ARRAY_TASK_MIN), " +
        "else the MPI or srun rank and size, else every run.")]
    public string? Shard { get; set; }

    [Option("status", HelpText = "List the spec's runs as done, running or pending, and train nothing.")]
    public bool Status { get; set; }

    public int Run()
    {
        double? maxSubmitMilliseconds = MaxSubmitFlag.Check(MaxSubmitMilliseconds);
        SweepSpec spec = SweepSpec.Load(Spec);
        if (maxSubmitMilliseconds is not null) spec = spec with { MaxSubmitMilliseconds = maxSubmitMilliseconds };
        if (Status)
        {
            PrintStatus(spec);
            return ExitCodes.Success;
        }
        SweepShard shard = Shard is null ? SweepShard.FromEnvironment(Environment.GetEnvironmentVariable) : SweepShard.Parse(Shard);
        using var interruption = new Interruption();
        using GpuContext context = GpuContext.Create(Device);
        FastPathGate.RequireWorkingFastPaths(context, spec.ResolvePrecision(context));
        Sweep.Run(context, spec, shard, Out, Console.Out, interruption.Token);
        return ExitCodes.Success;
    }

    private void PrintStatus(SweepSpec spec)
    {
        var states = Sweep.Status(spec, Out);
        foreach (var (run, state) in states) Console.WriteLine($"{state.ToString().ToLowerInvariant(),-8} {run.Id}");
        int Count(SweepRunState state) => states.Count(s => s.State == state);
        Console.WriteLine($"{Count(SweepRunState.Done)} done, {Count(SweepRunState.Running)} running, {Count(SweepRunState.Pending)} pending");
    }
}
