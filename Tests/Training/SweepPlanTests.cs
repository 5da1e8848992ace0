using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Trainer.Experiments;

namespace VkDiffusion.Tests.Training;

// scripts/study-gpu.sh checks its spec with `sweep --plan` before a lent GPU's minutes start: the plan must list the
// runs the sweep then trains, in its order, with the tokens and compute the sweep records, and its seconds must be
// the tokens at the spec's throughput. Here on a scaled-down spec of the same shape (two budgets, two epoch counts).
public sealed class SweepPlanTests(GpuFixture fixture) : GpuTest(fixture), IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("vkdiff-plan-").FullName;

    [Fact]
    public void The_plan_lists_the_runs_the_sweep_trains_with_their_tokens_compute_and_seconds()
    {
        SweepSpec spec = TinySweeps.Spec(root, uniqueTokens: 600, sequenceLength: 16, epochs: [1, 3], tokenOrders: []) with
        {
            UniqueTokens = [600, 1200],
            TokensPerSecond = new Dictionary<string, double> { ["tiny"] = 1000 },
            TimeLimitSeconds = 30,
        };
        SweepPlan plan = SweepPlan.For(spec);
        Assert.Equal(Sweep.Expand(spec).Select(run => run.Id), plan.Runs.Select(run => run.Run.Id));
        Assert.All(plan.Runs, run => Assert.Equal(run.Tokens / 1000.0, run.Seconds));
        // U x E - 1 tokens make floor((U x E - 1) / L) windows, cut into batches of 4: 600 x 3 epochs -> 112 windows, 28 steps.
        Assert.Equal(28, plan.Runs.Single(run => run.Run.Id == "mdm-tiny-U600-E3").Steps);
        Assert.Equal(plan.Tokens / 1000.0, plan.Seconds!.Value, 9);
        Assert.True(plan.Fits);
        Assert.False((plan with { TimeLimitSeconds = plan.Seconds - 1 }).Fits);

        var results = Sweep.Run(Context, spec, SweepShard.Whole, Path.Combine(root, "sweep"), new StringWriter(), CancellationToken.None);
        foreach (PlannedRun planned in plan.Runs)
        {
            RunResult result = results.Single(run => SweepRun.IdOf(run.Objective, run.Preset, run.UniqueTokens, (int)run.Epochs) == planned.Run.Id);
            Assert.Equal((planned.Tokens, planned.Flops), (result.Tokens, result.Flops));
        }
    }

    void IDisposable.Dispose()
    {
        Dispose();
        Directory.Delete(root, recursive: true);
    }
}
