using System.Globalization;
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

    [Option("plan", HelpText = "List the spec's runs with their steps, tokens, compute and, at the spec's tokens_per_second, seconds; exit 7 when they exceed its time_limit_s. Trains nothing.")]
    public bool Plan { get; set; }

    public int Run()
    {
        double? maxSubmitMilliseconds = MaxSubmitFlag.Check(MaxSubmitMilliseconds);
        SweepSpec spec = SweepSpec.Load(Spec);
        if (maxSubmitMilliseconds is not null) spec = spec with { MaxSubmitMilliseconds = maxSubmitMilliseconds };
        if (Plan) return PrintPlan(SweepPlan.For(spec));
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

    private static int PrintPlan(SweepPlan plan)
    {
        static string Seconds(double? seconds) => seconds is double value ? value.ToString("F0", CultureInfo.InvariantCulture) : "?";
        Console.WriteLine($"{"run",-28} {"steps",8} {"tokens",12} {"FLOPs",9} {"seconds",8}");
        foreach (var run in plan.Runs)
            Console.WriteLine($"{run.Run.Id,-28} {run.Steps,8} {run.Tokens,12} {run.Flops.ToString("G3", CultureInfo.InvariantCulture),9} {Seconds(run.Seconds),8}");
        string limit = plan.TimeLimitSeconds is double seconds ? $" of the {Seconds(seconds)} s time limit" : "";
        Console.WriteLine($"{plan.Runs.Count} runs, {plan.Tokens:N0} training tokens, {plan.Flops.ToString("G3", CultureInfo.InvariantCulture)} FLOPs, " +
                          $"{Seconds(plan.Seconds)} s of training{limit}");
        if (plan.Fits) return ExitCodes.Success;
        if (plan.Seconds is null)
            throw new InvalidInputException($"time_limit_s is set but tokens_per_second has no figure for preset(s) " +
                $"{string.Join(", ", plan.Runs.Where(run => run.Seconds is null).Select(run => run.Run.Preset).Distinct())}.");
        throw new InvalidInputException($"the plan needs {Seconds(plan.Seconds)} s of training, more than time_limit_s = {Seconds(plan.TimeLimitSeconds)}: drop runs or budgets.");
    }

    private void PrintStatus(SweepSpec spec)
    {
        var states = Sweep.Status(spec, Out);
        foreach (var (run, state) in states) Console.WriteLine($"{state.ToString().ToLowerInvariant(),-8} {run.Id}");
        int Count(SweepRunState state) => states.Count(s => s.State == state);
        Console.WriteLine($"{Count(SweepRunState.Done)} done, {Count(SweepRunState.Running)} running, {Count(SweepRunState.Pending)} pending");
    }
}
