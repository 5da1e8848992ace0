using System.Globalization;
using System.Text.RegularExpressions;
using VkDiffusion.Cli;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Trainer.Files;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Tests.Distributed;

/// <summary>
/// A tiny MDM run with dropout, 12 steps of a global batch of 4 sequences, trained once by one process (2 micro-batches
/// of 2) and once by 2 mpirun ranks (1 micro-batch of 2 each, the gradients summed in several small buckets). Shared by
/// the tests of <see cref="DataParallelTrainingTests"/>, so each run is trained once.
/// </summary>
public sealed class TinyDataParallelRuns : IDisposable
{
    public const int TotalSteps = 12;
    private readonly TemporaryDirectory root = new();
    private readonly Lazy<string> data;
    private readonly Lazy<(string Directory, string Log)> single, twoRanks;

    /// <summary>Small buckets, so the tiny model's 400 KiB of gradients go in several all-reduces.</summary>
    public static readonly IReadOnlyDictionary<string, string> SmallBuckets = new Dictionary<string, string> { [DataParallelRanks.BucketSizeVariable] = "0.1" };

    public TinyDataParallelRuns()
    {
        data = new(() => TinySweeps.Spec(root.Path, uniqueTokens: 800, sequenceLength: 16, epochs: [1], tokenOrders: []).Data);
        single = new(() => Train(ranks: 1, "single"));
        twoRanks = new(() => Train(ranks: 2, "two-ranks"));
    }

    public string Root => root.Path;
    public string Data => data.Value;
    public (string Directory, string Log) Single => single.Value;
    public (string Directory, string Log) TwoRanks => twoRanks.Value;

    /// <summary>The flags of every run here but --grad-accum and --out: 800 tokens make 49 windows of 17, 12 steps of 4.</summary>
    public string[] Flags(params string[] more) =>
    [
        "train", "--data", Data, "--model", "tiny", "--objective", "mdm", "--dropout", "0.1", "--unique-tokens", "800", "--epochs", "1",
        "--seq-len", "16", "--batch", "2", "--lr", "0.003", "--eval-every", "4", "--eval-batches", "1", "--eval-mc", "2", .. more,
    ];

    private (string Directory, string Log) Train(int ranks, string name)
    {
        string directory = System.IO.Path.Combine(root.Path, name);
        string[] arguments = Flags("--grad-accum", (2 / ranks).ToString(CultureInfo.InvariantCulture), "--out", directory);
        var (exitCode, output, error) = ranks == 1 ? VkdiffWorker.Run(null, arguments) : VkdiffWorker.RunUnderMpirun(ranks, SmallBuckets, arguments);
        Assert.True(exitCode == ExitCodes.Success, $"{name} exited {exitCode}: {output} {error}");
        return (directory, output);
    }

    public static Dictionary<string, float[]> FinalWeights(string runDirectory)
    {
        using RunCheckpoint.Loaded checkpoint = RunCheckpoint.Open(TrainingRun.LastCheckpoint(runDirectory));
        Assert.Equal(TotalSteps, checkpoint.Progress!.Step);
        return checkpoint.ReadParameters();
    }

    public void Dispose() => root.Dispose();
}

[Trait("Category", "Mpi")]
public sealed class DataParallelTrainingTests(TinyDataParallelRuns runs) : IClassFixture<TinyDataParallelRuns>
{
    [Fact]
    public void Two_ranks_train_like_one_process_with_the_same_global_batch()
    {
        var (singleDirectory, _) = runs.Single;
        var (twoRankDirectory, twoRankLog) = runs.TwoRanks;
        Assert.Matches(@"data parallel: 2 ranks x 1 micro-batches of 2 sequences, gradients summed in ([4-9]|\d\d+) buckets", twoRankLog);
        Assert.Contains("parameters bit-identical on all 2 ranks (SHA-256 compared at every evaluation, the last at step 12)", twoRankLog);

        var expected = MetricsLog.Read(Path.Combine(singleDirectory, TrainingRun.MetricsFile));
        var actual = MetricsLog.Read(Path.Combine(twoRankDirectory, TrainingRun.MetricsFile));
        Assert.Equal(expected.Select(r => r.Step), actual.Select(r => r.Step));
        Assert.Equal(4, expected.Count); // evaluations at steps 4, 8 and 12, the log line of step 10
        foreach (var (one, two) in expected.Zip(actual))
        {
            Assert.True(Math.Abs(one.TrainLoss - two.TrainLoss) <= 1e-5 * Math.Abs(one.TrainLoss), $"step {one.Step}: train loss {one.TrainLoss} vs {two.TrainLoss}");
            Assert.Equal(one.ValLoss is null, two.ValLoss is null);
            if (one.ValLoss is double val)
                Assert.True(Math.Abs(val - two.ValLoss!.Value) <= 1e-5 * Math.Abs(val), $"step {one.Step}: val loss {val} vs {two.ValLoss}");
        }

        Dictionary<string, float[]> singleWeights = TinyDataParallelRuns.FinalWeights(singleDirectory), twoRankWeights = TinyDataParallelRuns.FinalWeights(twoRankDirectory);
        Assert.Equal(singleWeights.Keys.Order(), twoRankWeights.Keys.Order());
        foreach (var (name, values) in singleWeights) TestData.AssertClose(twoRankWeights[name], values, atol: 1e-5, rtol: 0, name);
        // Training moved the weights well beyond the tolerance, so the comparison is not between initial values.
        var initial = ModelParameters.Initialize(ModelPresets.Get("tiny", VocabularySpec.Bytes), seed: 1234);
        Assert.True(singleWeights.Max(entry => TestData.MaxToleranceRatio(entry.Value, initial[entry.Key], atol: 1e-5, rtol: 0)) > 100);
    }

    [Fact]
    public async Task A_two_rank_run_killed_with_kill_9_resumes_on_two_ranks_or_one_to_the_weights_of_an_uninterrupted_one()
    {
        var (uninterrupted, _) = runs.TwoRanks;
        string killed = Path.Combine(runs.Root, "killed"), copy = Path.Combine(runs.Root, "killed-resumed-by-one-process");
        using (var worker = VkdiffWorker.StartUnderMpirun(2, TinyDataParallelRuns.SmallBuckets, runs.Flags("--grad-accum", "1", "--save-every", "1", "--out", killed)))
        {
            await worker.LineStartingWith("step       4/12").WaitAsync(TimeSpan.FromMinutes(3));
            worker.KillHard();
        }
        // mpirun is gone; its ranks die with it, rank 0 releasing the run's lock as it goes.
        await WaitUntilFree(Path.Combine(killed, TrainingRun.LockFile));
        CopyDirectory(killed, copy);

        var (exitCode, output, error) = VkdiffWorker.RunUnderMpirun(2, TinyDataParallelRuns.SmallBuckets, "train", "--resume", killed);
        Assert.True(exitCode == ExitCodes.Success, $"resume on 2 ranks exited {exitCode}: {output} {error}");
        int resumedAt = int.Parse(Regex.Match(output, @"resuming at step (\d+)").Groups[1].Value, CultureInfo.InvariantCulture);
        // Usually the kill lands a few steps after step 4. mpirun forwards the ranks' output late at times, and the ranks
        // outlive it briefly, so on a fast machine the run can reach its end first: then the resume has nothing left to
        // do, and what follows still checks that the run it finished equals the uninterrupted one.
        Assert.InRange(resumedAt, 4, TinyDataParallelRuns.TotalSteps);
        Dictionary<string, float[]> expected = TinyDataParallelRuns.FinalWeights(uninterrupted);
        Dictionary<string, float[]> resumedOnTwo = TinyDataParallelRuns.FinalWeights(killed);
        foreach (var (name, values) in expected) Assert.True(values.AsSpan().SequenceEqual(resumedOnTwo[name]), $"{name} differs from the uninterrupted run's");
        Assert.Equal(MetricsLog.Read(Path.Combine(uninterrupted, TrainingRun.MetricsFile)).Select(r => r.TrainLoss),
            MetricsLog.Read(Path.Combine(killed, TrainingRun.MetricsFile)).Select(r => r.TrainLoss));

        // One process takes both micro-batches of the global batch (config.json's grad_accum is 2): the same run, summed in another order.
        (exitCode, output, error) = VkdiffWorker.Run(null, "train", "--resume", copy);
        Assert.True(exitCode == ExitCodes.Success, $"resume in one process exited {exitCode}: {output} {error}");
        Assert.Contains($"resuming at step {resumedAt}", output);
        Dictionary<string, float[]> resumedOnOne = TinyDataParallelRuns.FinalWeights(copy);
        foreach (var (name, values) in expected) TestData.AssertClose(resumedOnOne[name], values, atol: 1e-5, rtol: 0, name);
    }

    private static async Task WaitUntilFree(string lockPath)
    {
        for (int attempt = 0; attempt < 600; attempt++)
        {
            using (ExclusiveLock? free = ExclusiveLock.TryAcquire(lockPath))
                if (free is not null) return;
            await Task.Delay(100);
        }
        Assert.Fail($"{lockPath} is still held a minute after the job was killed");
    }

    private static void CopyDirectory(string source, string destination)
    {
        foreach (string file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(destination, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    [Fact]
    public void A_rank_with_another_config_is_named_in_one_line_exit_7_and_nothing_is_written()
    {
        string directory = Path.Combine(runs.Root, "disagreeing");
        string[] Rank(string minimumLearningRate) => runs.Flags("--grad-accum", "1", "--out", directory, "--min-lr", minimumLearningRate);

        var (exitCode, output, error) = VkdiffWorker.RunRanksUnderMpirun(Rank("0.0003"), Rank("0.0002"));

        Assert.Equal(ExitCodes.InvalidInput, exitCode);
        string[] lines = $"{output}\n{error}".Split('\n').Where(line => line.StartsWith("vkdiff:", StringComparison.Ordinal)).ToArray();
        Assert.Equal(["vkdiff: rank 1 sees a different config or data than rank 0 (the same command, the same --data contents and the same files " +
            "on every node are needed)."], lines);
        Assert.False(Directory.Exists(directory), "nothing may be written");
    }

    /// <summary>A --config file of the tiny model on the shared data (2 micro-batches of 2 sequences per step), changed by <paramref name="change"/>.</summary>
    private string WriteConfig(string name, Func<TrainingOptions, TrainingOptions> change)
    {
        var options = new TrainingOptions
        {
            Model = ModelPresets.Get("tiny", VocabularySpec.Bytes),
            DataDirectory = runs.Data,
            UniqueTokens = 800,
            SequenceLength = 16,
            BatchSize = 2,
            GradientAccumulation = 2,
        };
        string config = Path.Combine(runs.Root, name + ".json");
        File.WriteAllText(config, change(options).ToJson());
        return config;
    }

    /// <summary>The lines vkdiff printed (its own start with "vkdiff:"; Open MPI's banners do not).</summary>
    private static string[] VkdiffLines(string output, string error) =>
        $"{output}\n{error}".Split('\n').Where(line => line.StartsWith("vkdiff:", StringComparison.Ordinal)).ToArray();

    [Fact]
    public void A_global_batch_the_ranks_cannot_split_is_exit_7_in_one_line_and_writes_nothing()
    {
        string config = WriteConfig("three-micro-batches", options => options with { GradientAccumulation = 3 });
        string directory = Path.Combine(runs.Root, "unsplittable");

        var (exitCode, output, error) = VkdiffWorker.RunUnderMpirun(2, "train", "--config", config, "--out", directory);

        Assert.Equal(ExitCodes.InvalidInput, exitCode);
        Assert.Equal(["vkdiff: the global batch of 3 micro-batches of 2 sequences (grad_accum x batch) cannot be split evenly over 2 ranks; " +
            "run on a number of ranks that divides 3."], VkdiffLines(output, error));
        Assert.False(Directory.Exists(directory), "nothing may be written");
    }

    [Theory]
    [InlineData(1, "validation loss")] // evaluated by rank 0 alone, after the first update
    [InlineData(100, "loss")] // summed over the ranks, at the second step
    public void A_diverging_two_rank_run_is_reported_once_by_rank_0_and_both_ranks_exit_10(int evalEvery, string diverged)
    {
        // A learning rate of 1e38 sends the weights to infinity at the first update.
        string config = WriteConfig($"diverging-{evalEvery}", options => options with
        {
            Objective = Objective.Ar, LearningRate = 1e38, MinLearningRate = 0, WarmupFraction = 0, EvalEvery = evalEvery,
        });

        var (exitCode, output, error) = VkdiffWorker.RunUnderMpirun(2, "train", "--config", config, "--out", Path.Combine(runs.Root, $"diverging-{evalEvery}"));

        Assert.True(exitCode == ExitCodes.Diverged, $"exit {exitCode}: {output} {error}");
        string line = Assert.Single(VkdiffLines(output, error));
        Assert.StartsWith($"vkdiff: the {diverged} became ", line);
        Assert.Contains("; the run stopped and ", line);
    }

    [Fact]
    public async Task Sigusr1_to_mpirun_stops_both_ranks_with_one_save_and_mpirun_exits_9()
    {
        string config = WriteConfig("long", options => options with { Epochs = 200, EvalEvery = 100_000 });
        string directory = Path.Combine(runs.Root, "signalled");
        using var worker = VkdiffWorker.StartUnderMpirun(2, null, "train", "--config", config, "--out", directory);
        await worker.LineStartingWith("step ").WaitAsync(TimeSpan.FromMinutes(3));

        worker.Signal("USR1"); // to mpirun, which forwards it to both ranks
        var (exitCode, output, error) = worker.WaitForExit();

        Assert.True(exitCode == ExitCodes.Interrupted, $"exit {exitCode}: {output} {error}");
        Match interrupted = Assert.Single(Regex.Matches(output, @"^interrupted at step (\d+); saved", RegexOptions.Multiline));
        Assert.Single(VkdiffLines(output, error), line => line == Interruption.StoppingAfterStep);
        using RunCheckpoint.Loaded checkpoint = RunCheckpoint.Open(TrainingRun.LastCheckpoint(directory));
        Assert.Equal(long.Parse(interrupted.Groups[1].Value, CultureInfo.InvariantCulture), checkpoint.Progress!.Step);
    }
}
