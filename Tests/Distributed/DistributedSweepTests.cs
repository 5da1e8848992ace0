using System.Text.Json;
using System.Text.RegularExpressions;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Trainer.Experiments;
using VkDiffusion.Trainer.Files;

namespace VkDiffusion.Tests.Distributed;

/// <summary>Concurrent `vkdiff sweep` worker processes share one sweep directory: each run trains exactly once.</summary>
public sealed class DistributedSweepTests : IDisposable
{
    private readonly TemporaryDirectory root = new();

    /// <summary>A spec of tiny runs (a few steps each): with orders, mdm, ar and ar with 2 token orders at 1 and 2 epochs (6 runs).</summary>
    internal static string WriteSpec(TemporaryDirectory root, bool withOrders)
    {
        SweepSpec spec = TinySweeps.Spec(root.Path, uniqueTokens: 400, sequenceLength: 16, epochs: withOrders ? [1, 2] : [1], tokenOrders: withOrders ? [2] : []);
        return root.Write("spec.json", JsonSerializer.Serialize(spec, SweepSpec.Json));
    }

    private string WriteSpec(bool withOrders) => WriteSpec(root, withOrders);

    private string Output => root.File("sweep");

    /// <summary>The 1-based run numbers a worker's log says it trained ("[k/N] ID (sweep ETA ...)").</summary>
    internal static List<int> Trained(string log) =>
        Regex.Matches(log, @"^\[(\d+)/\d+\] \S+ \(sweep ETA", RegexOptions.Multiline).Select(m => int.Parse(m.Groups[1].Value)).ToList();

    private void AssertEachRunOnceInResults(int runs) => AssertEachRunOnceInResults(Output, runs);

    internal static void AssertEachRunOnceInResults(string output, int runs)
    {
        var rows = ResultsTable.Read(Path.Combine(output, Sweep.ResultsFile));
        Assert.Equal(runs, rows.Count);
        Assert.Equal(runs, rows.Select(row => (row.Objective, row.Epochs)).Distinct().Count());
        Assert.All(rows, row => Assert.True(double.IsFinite(row.FinalValLoss) && row.Tokens > 0, $"row {row}"));
    }

    private void RunTwoWorkers(IReadOnlyDictionary<string, string>? first, IReadOnlyDictionary<string, string>? second, string[] firstFlags, string[] secondFlags)
    {
        string spec = WriteSpec(withOrders: true);
        using var workerA = VkdiffWorker.Start(first, ["sweep", "--spec", spec, "--out", Output, .. firstFlags]);
        using var workerB = VkdiffWorker.Start(second, ["sweep", "--spec", spec, "--out", Output, .. secondFlags]);
        var (exitA, logA, errorA) = workerA.WaitForExit();
        var (exitB, logB, errorB) = workerB.WaitForExit();
        Assert.True(exitA == ExitCodes.Success, $"worker 0 exited {exitA}: {errorA}");
        Assert.True(exitB == ExitCodes.Success, $"worker 1 exited {exitB}: {errorB}");
        // Shard 0 of 2 owns runs 0, 2, 4 (printed 1, 3, 5); shard 1 the others.
        Assert.Equal([1, 3, 5], Trained(logA));
        Assert.Equal([2, 4, 6], Trained(logB));
        AssertEachRunOnceInResults(6);
        Assert.True(File.Exists(Path.Combine(Output, "loss_vs_epochs_U400.png")), "the worker that finished last plots the sweep");
    }

    [Fact]
    public void Two_workers_with_shard_flags_train_each_of_six_runs_once()
    {
        RunTwoWorkers(null, null, ["--shard", "0/2"], ["--shard", "1/2"]);
    }

    [Fact]
    public void Two_slurm_array_tasks_train_each_of_six_runs_once()
    {
        Dictionary<string, string> Task(int id) => new()
        {
            ["SLURM_ARRAY_TASK_ID"] = id.ToString(), ["SLURM_ARRAY_TASK_MIN"] = "3", ["SLURM_ARRAY_TASK_COUNT"] = "2",
        };
        RunTwoWorkers(Task(3), Task(4), [], []);
    }

    [Fact]
    public async Task A_killed_workers_run_is_pending_and_the_next_invocation_trains_it()
    {
        string spec = WriteSpec(withOrders: false);
        var sweepArguments = new[] { "sweep", "--spec", spec, "--out", Output };
        using (var worker = VkdiffWorker.Start(null, sweepArguments))
        {
            await worker.LineStartingWith("[1/2] mdm-tiny-U400-E1 (sweep ETA").WaitAsync(TimeSpan.FromMinutes(3));
            worker.KillHard();
        }
        var (exitCode, status, _) = VkdiffWorker.Run(null, [.. sweepArguments, "--status"]);
        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Contains("pending  mdm-tiny-U400-E1", status);
        Assert.Contains("0 done, 0 running, 2 pending", status);

        // Another worker holds the AR run: the rerun trains the killed MDM run and leaves the AR run to its holder.
        var arRun = Sweep.Expand(SweepSpec.Load(spec))[1];
        using (var claim = ExclusiveLock.TryAcquire(Sweep.ClaimPath(Output, arRun)))
        {
            Assert.NotNull(claim);
            var heldStatus = VkdiffWorker.Run(null, [.. sweepArguments, "--status"]);
            Assert.True(heldStatus.Output.Contains("running  ar-tiny-U400-E1"), $"{heldStatus}");
            var (rerunExit, rerunLog, rerunError) = VkdiffWorker.Run(null, sweepArguments);
            Assert.True(rerunExit == ExitCodes.Success, rerunError);
            Assert.Equal([1], Trained(rerunLog));
            Assert.Contains("[2/2] ar-tiny-U400-E1: running in another worker, skipped", rerunLog);
        }
        var (lastExit, lastLog, lastError) = VkdiffWorker.Run(null, sweepArguments);
        Assert.True(lastExit == ExitCodes.Success, lastError);
        Assert.Contains("[1/2] mdm-tiny-U400-E1: done before, skipped", lastLog);
        Assert.Equal([2], Trained(lastLog));
        AssertEachRunOnceInResults(2);
        Assert.Contains("2 done, 0 running, 0 pending", VkdiffWorker.Run(null, [.. sweepArguments, "--status"]).Output);
    }

    public void Dispose() => root.Dispose();
}
