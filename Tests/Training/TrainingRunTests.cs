using VkDiffusion.Model;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Trainer.Checkpoints;
using VkDiffusion.Trainer.Data;
using VkDiffusion.Trainer.Files;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Tests.Training;

public sealed class TrainingRunTests(GpuFixture fixture) : GpuTest(fixture), IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("vkdiff-train-").FullName;

    private string PrepareCorpus() => PrepareCorpus(root);

    /// <summary>A corpus of 120 ten-word-vocabulary documents under <paramref name="root"/>, byte-tokenized unless <paramref name="tokenizer"/> says otherwise.</summary>
    internal static string PrepareCorpus(string root, string tokenizer = "bytes")
    {
        string text = Path.Combine(root, "corpus.txt");
        var random = new Random(7);
        string[] words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"];
        var documents = Enumerable.Range(0, 120).Select(_ => string.Join(' ', Enumerable.Range(0, 30).Select(_ => words[random.Next(words.Length)])));
        File.WriteAllText(text, string.Join("\n\n", documents));
        string data = Path.Combine(root, "data");
        CorpusPreparer.Prepare(new PrepareOptions { Inputs = [text], Tokenizer = tokenizer, OutputDirectory = data, ValidationDocuments = 20 });
        return data;
    }

    /// <summary>The tiny preset at sequence 32, batch 4, lr 1e-3: a few steps a second on lavapipe.</summary>
    internal static TrainingOptions Options(string data, Objective objective) => new()
    {
        Objective = objective,
        Preset = "tiny",
        Model = ModelPresets.Get("tiny", VocabularySpec.Bytes),
        DataDirectory = data,
        UniqueTokens = 4000,
        Epochs = 2,
        SequenceLength = 32,
        BatchSize = 4,
        LearningRate = 1e-3,
        EvalEvery = 5,
        EvalWindows = 4,
        EvalMonteCarlo = 2,
        LogEvery = 1,
        Seed = 11,
    };

    private static double[] TrainLosses(string runDirectory) =>
        MetricsLog.Read(Path.Combine(runDirectory, TrainingRun.MetricsFile)).Select(r => r.TrainLoss).ToArray();

    /// <summary>Asserts two runs logged the same metrics but for their time fields and hold bit-identical last checkpoints.</summary>
    private static void AssertSameRun(string expected, string actual)
    {
        static MetricsRecord[] Untimed(string run) =>
            MetricsLog.Read(Path.Combine(run, TrainingRun.MetricsFile)).Select(r => r with { TokensPerS = 0, ElapsedS = 0 }).ToArray();
        Assert.Equal(Untimed(expected), Untimed(actual));
        using SafeTensorsFile expectedWeights = SafeTensorsFile.Open(TrainingRun.LastCheckpoint(expected));
        using SafeTensorsFile actualWeights = SafeTensorsFile.Open(TrainingRun.LastCheckpoint(actual));
        Assert.Equal(expectedWeights.Tensors.Keys.Order(), actualWeights.Tensors.Keys.Order());
        foreach (string name in expectedWeights.Tensors.Keys)
            Assert.True(expectedWeights.Read<float>(name).AsSpan().SequenceEqual(actualWeights.Read<float>(name)), $"{name} differs in {actual}");
    }

    /// <summary>The losses a submit-ahead run reads after the next step was submitted: those of the steps after which the
    /// host needs nothing (no evaluation, no save, not the last).</summary>
    private static int LossesReadLateWithSubmitAhead(TrainingOptions options, long steps) =>
        Enumerable.Range(1, (int)steps - 1).Count(step => step % options.EvalEvery != 0 && (options.SaveEvery == 0 || step % options.SaveEvery != 0));

    [Theory]
    [InlineData(Objective.Mdm)]
    [InlineData(Objective.Ar)]
    public void The_same_seed_gives_the_same_losses_and_a_resumed_run_continues_bit_for_bit(Objective objective)
    {
        string data = PrepareCorpus();
        TrainingOptions options = Options(data, objective) with { Epochs = 1 };
        string first = Path.Combine(root, "first"), second = Path.Combine(root, "second"), resumed = Path.Combine(root, "resumed");
        var firstLog = new StringWriter();
        TrainingSummary summary = TrainingRun.Start(Context, options, first, firstLog, CancellationToken.None);
        // The second run reads every loss before it submits the next step; the first submits ahead. Each log says which.
        var serialLog = new StringWriter();
        TrainingSummary serial = TrainingRun.Start(Context, options with { SubmitAhead = false }, second, serialLog, CancellationToken.None);
        Assert.Contains("submit-ahead: on", firstLog.ToString());
        Assert.Contains("submit-ahead: off", serialLog.ToString());
        double[] losses = TrainLosses(first);
        Assert.True(losses.Length >= 10, $"the run should have at least 10 steps, had {losses.Length}");
        AssertSameRun(second, first);
        Assert.Equal(0, serial.LossesReadLate);
        Assert.Equal(LossesReadLateWithSubmitAhead(options, summary.Steps), summary.LossesReadLate);

        // Stop after step 6 is logged, as Ctrl-C would, then resume: every loss equals the uninterrupted run's. Step 7 was
        // already submitted then (submit-ahead: step 6 neither evaluates nor saves), so the stop counts it and saves step 7.
        using var cancellation = new CancellationTokenSource();
        var stopper = new StopAfterStep(6, cancellation);
        Assert.Throws<OperationCanceledException>(() => TrainingRun.Start(Context, options, resumed, stopper, cancellation.Token));
        Assert.Equal(7, TrainLosses(resumed).Length);
        using (RunCheckpoint.Loaded stopped = RunCheckpoint.Open(TrainingRun.LastCheckpoint(resumed)))
            Assert.Equal(7, stopped.Progress!.Step);
        TrainingSummary resumedSummary = TrainingRun.Resume(Context, resumed, TextWriter.Null, CancellationToken.None);
        AssertSameRun(first, resumed);
        Assert.Equal(summary.FinalValidationLoss, resumedSummary.FinalValidationLoss);
        Assert.True(File.Exists(Path.Combine(resumed, TrainingRun.PlotFile)));
    }

    [Fact]
    public void Training_lowers_the_loss_and_a_budget_too_small_for_one_step_is_a_clear_error()
    {
        string data = PrepareCorpus();
        TrainingSummary summary = TrainingRun.Start(Context, Options(data, Objective.Ar) with { Epochs = 3, LearningRate = 3e-3 },
            Path.Combine(root, "ar"), TextWriter.Null, CancellationToken.None);
        double[] losses = TrainLosses(summary.RunDirectory);
        // Untrained, the byte model is near uniform over 320 logits: ln 320 = 5.77 nats.
        Assert.InRange(losses[0], 5.0, 6.5);
        Assert.True(losses[^1] < losses[0] - 1.0, $"loss went from {losses[0]} to {losses[^1]}");

        var error = Assert.Throws<InvalidInputException>(() => TrainingRun.Start(Context,
            Options(data, Objective.Ar) with { UniqueTokens = 50 }, Path.Combine(root, "tiny-budget"), TextWriter.Null, CancellationToken.None));
        Assert.Contains("--unique-tokens", error.Message);
    }

    [Fact]
    public void A_crashed_run_restarts_or_resumes_to_the_uninterrupted_runs_metrics_on_its_own_data_only()
    {
        string data = PrepareCorpus();
        // Saves (every 3 steps and at evaluations every 5) fall between metrics lines (every 4), so a resume starts mid-interval.
        TrainingOptions options = Options(data, Objective.Ar) with { Epochs = 1, LogEvery = 4, SaveEvery = 3 };
        string reference = Path.Combine(root, "reference"), crashed = Path.Combine(root, "crashed");
        TrainingSummary uninterrupted = TrainingRun.Start(Context, options, reference, TextWriter.Null, CancellationToken.None);

        // Errors found at the start leave nothing behind, so the corrected command is accepted.
        Assert.Throws<InvalidInputException>(() => TrainingRun.Start(Context, options with { UniqueTokens = 100_000_000 }, crashed, TextWriter.Null, CancellationToken.None));
        Assert.False(Directory.Exists(crashed));
        string underAFile = Path.Combine(root, "corpus.txt", "run");
        Assert.Equal(ExitCodes.FileSystem, Assert.Throws<VkDiffusionException>(() => TrainingRun.Start(Context, options, underAFile, TextWriter.Null, CancellationToken.None)).ExitCode);

        // Killed before its first checkpoint: config.json is there, yet the same command starts it again.
        Assert.Throws<SimulatedCrash>(() => TrainingRun.Start(Context, options, crashed, new CrashAtLine("run:"), CancellationToken.None));
        Assert.True(File.Exists(Path.Combine(crashed, TrainingRun.ConfigFile)));
        Assert.False(File.Exists(TrainingRun.LastCheckpoint(crashed)));
        // Killed after step 8's metrics line, two steps past its last checkpoint (step 6).
        Assert.Throws<SimulatedCrash>(() => TrainingRun.Start(Context, options, crashed, new CrashAtLine("step       8/"), CancellationToken.None));

        using (ExclusiveLock.Acquire(Path.Combine(crashed, TrainingRun.LockFile), "test"))
            Assert.Contains("in use", Assert.Throws<VkDiffusionException>(() => TrainingRun.Resume(Context, crashed, TextWriter.Null, CancellationToken.None)).Message);

        TrainingSummary resumed = TrainingRun.Resume(Context, crashed, TextWriter.Null, CancellationToken.None);
        Assert.Equal(TrainLosses(reference), TrainLosses(crashed));
        Assert.Equal(uninterrupted.FinalValidationLoss, resumed.FinalValidationLoss);
        TrainingSummary finished = TrainingRun.Resume(Context, crashed, TextWriter.Null, CancellationToken.None);
        Assert.Equal((uninterrupted.FinalTrainLoss, uninterrupted.FinalValidationLoss), (finished.FinalTrainLoss, finished.FinalValidationLoss));

        // Another corpus prepared into the same data directory: resuming on it is refused.
        string other = Path.Combine(root, "other.txt");
        File.WriteAllText(other, string.Join("\n\n", Enumerable.Range(0, 120).Select(i => $"another corpus, document {i}, other words entirely")));
        CorpusPreparer.Prepare(new PrepareOptions { Inputs = [other], Tokenizer = "bytes", OutputDirectory = data, ValidationDocuments = 20, Overwrite = true });
        Assert.Contains("fingerprint", Assert.Throws<InvalidInputException>(() => TrainingRun.Resume(Context, crashed, TextWriter.Null, CancellationToken.None)).Message);
    }

    [Fact]
    public void A_diverging_run_exits_10_without_saving_non_finite_weights_and_resumes_with_a_lower_learning_rate()
    {
        string data = PrepareCorpus();
        string run = Path.Combine(root, "lr1e38");
        TrainingOptions options = Options(data, Objective.Ar) with { Epochs = 1, LearningRate = 1e38, MinLearningRate = 0, WarmupFraction = 0 };
        var error = Assert.Throws<VkDiffusionException>(() => TrainingRun.Start(Context, options, run, TextWriter.Null, CancellationToken.None));
        Assert.Equal(ExitCodes.Diverged, error.ExitCode);
        Assert.Contains("--resume", error.Message);
        Assert.False(File.Exists(TrainingRun.LastCheckpoint(run)));
        // Found one step late under submit-ahead, the divergence still names the step a run without it names.
        string serial = Path.Combine(root, "lr1e38-serial");
        var serialError = Assert.Throws<VkDiffusionException>(() =>
            TrainingRun.Start(Context, options with { SubmitAhead = false }, serial, TextWriter.Null, CancellationToken.None));
        Assert.Contains(" at step ", serialError.Message);
        Assert.Equal(serialError.Message.Replace(serial, run), error.Message);

        // The advice works: the run restarts (it has no checkpoint) with the lower rate, recorded in its history.
        TrainingSummary summary = TrainingRun.Resume(Context, run, TextWriter.Null, CancellationToken.None, new ScheduleOverrides { LearningRate = 1e-3 });
        Assert.True(double.IsFinite(summary.FinalValidationLoss));
        Assert.Equal(1e-3, TrainingOptions.FromJson(File.ReadAllText(Path.Combine(run, TrainingRun.ConfigFile)), "config").LearningRate);
        string history = File.ReadAllText(Path.Combine(run, ScheduleOverrides.HistoryFile));
        Assert.Contains("\"lr\":[1E+38,0.001]", history);
    }

    [Fact]
    public void A_divergence_found_one_step_late_names_its_step_and_leaves_the_last_checkpoint_intact()
    {
        string data = PrepareCorpus();
        // No evaluation or save before the end: every step is followed by the next one submitted ahead.
        TrainingOptions options = Options(data, Objective.Ar) with { Epochs = 1, EvalEvery = 1000 };
        string ahead = Path.Combine(root, "ahead"), serial = Path.Combine(root, "serial");
        using var cancellation = new CancellationTokenSource();
        Assert.Throws<OperationCanceledException>(() => TrainingRun.Start(Context, options, ahead, new StopAfterStep(2, cancellation), cancellation.Token));
        // The same checkpoint, continued by a run that reads every loss before it submits the next step.
        CopyDirectory(ahead, serial);
        string serialConfig = Path.Combine(serial, TrainingRun.ConfigFile);
        File.WriteAllText(serialConfig, (TrainingOptions.FromJson(File.ReadAllText(serialConfig), serialConfig) with { SubmitAhead = false }).ToJson());
        byte[] checkpoint = File.ReadAllBytes(TrainingRun.LastCheckpoint(ahead));

        var explosive = new ScheduleOverrides { LearningRate = 1e38 };
        var serialError = Assert.Throws<VkDiffusionException>(() => TrainingRun.Resume(Context, serial, TextWriter.Null, CancellationToken.None, explosive));
        var error = Assert.Throws<VkDiffusionException>(() => TrainingRun.Resume(Context, ahead, TextWriter.Null, CancellationToken.None, explosive));
        Assert.Equal(ExitCodes.Diverged, error.ExitCode);
        Assert.Contains("(step 3)", error.Message);
        Assert.Equal(serialError.Message.Replace(serial, ahead), error.Message);
        Assert.Equal(checkpoint, File.ReadAllBytes(TrainingRun.LastCheckpoint(ahead)));
    }

    private static void CopyDirectory(string source, string destination)
    {
        foreach (string directory in Directory.GetDirectories(source, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(directory.Replace(source, destination));
        Directory.CreateDirectory(destination);
        foreach (string file in Directory.GetFiles(source, "*", SearchOption.AllDirectories).Where(file => Path.GetFileName(file) != TrainingRun.LockFile))
            File.Copy(file, file.Replace(source, destination));
    }

    [Fact]
    public void A_checkpoint_with_a_flipped_byte_or_non_finite_weights_is_refused_on_load()
    {
        string data = PrepareCorpus();
        string run = Path.Combine(root, "damaged");
        using var cancellation = new CancellationTokenSource();
        Assert.Throws<OperationCanceledException>(() =>
            TrainingRun.Start(Context, Options(data, Objective.Ar), run, new StopAfterStep(3, cancellation), cancellation.Token));
        string checkpoint = TrainingRun.LastCheckpoint(run);
        byte[] original = File.ReadAllBytes(checkpoint);

        // One flipped bit in the last tensor's data: still a well-formed file, with one weight slightly off.
        byte[] flipped = (byte[])original.Clone();
        flipped[^3] ^= 0x01;
        File.WriteAllBytes(checkpoint, flipped);
        Assert.Contains("does not match its checksum", Assert.Throws<InvalidInputException>(() =>
            TrainingRun.Resume(Context, run, TextWriter.Null, CancellationToken.None)).Message);
        Assert.Equal(flipped, File.ReadAllBytes(checkpoint));

        // A NaN weight in a checkpoint without checksums (as older checkpoints are).
        var entries = new List<SafeTensorEntry>();
        Dictionary<string, string> metadata;
        File.WriteAllBytes(checkpoint, original);
        using (SafeTensorsFile file = SafeTensorsFile.Open(checkpoint))
        {
            metadata = file.Metadata.Where(entry => entry.Key != RunCheckpoint.ChecksumsKey).ToDictionary();
            foreach (var (name, info) in file.Tensors)
            {
                float[] values = file.Read<float>(name);
                if (name == ModelParameters.FinalNorm) values[0] = float.NaN;
                entries.Add(SafeTensorEntry.FromArray(name, values, [.. info.Shape]));
            }
        }
        CheckpointFile.Write(checkpoint, entries, metadata);
        Assert.Contains($"{ModelParameters.FinalNorm} holds NaN or infinite weights", Assert.Throws<InvalidInputException>(() =>
            TrainingRun.Resume(Context, run, TextWriter.Null, CancellationToken.None)).Message);
    }

    private sealed class SimulatedCrash : Exception;

    /// <summary>A log that throws at the first line starting with the given text: the process dies there, nothing is saved.</summary>
    private sealed class CrashAtLine(string prefix) : StringWriter
    {
        public override void WriteLine(string? value)
        {
            if (value is not null && value.StartsWith(prefix, StringComparison.Ordinal)) throw new SimulatedCrash();
            base.WriteLine(value);
        }
    }

    [Fact]
    public void Overlapped_submitted_ahead_and_bounded_runs_train_bit_for_bit_like_a_plain_one_and_a_bound_below_a_dispatch_is_refused()
    {
        string data = PrepareCorpus();
        // Saves every 3 steps and evaluations every 5: submit-ahead drains before each.
        TrainingOptions options = Options(data, Objective.Mdm) with { Epochs = 1, SaveEvery = 3 };
        string plain = Path.Combine(root, "plain"), overlapped = Path.Combine(root, "overlapped"), ahead = Path.Combine(root, "ahead"),
            bounded = Path.Combine(root, "bounded");
        TrainingSummary plainRun = TrainingRun.Start(Context, options with { OverlapHostWork = false }, plain, TextWriter.Null, CancellationToken.None);
        TrainingSummary overlappedRun = TrainingRun.Start(Context, options with { SubmitAhead = false }, overlapped, TextWriter.Null, CancellationToken.None);
        TrainingSummary aheadRun = TrainingRun.Start(Context, options, ahead, TextWriter.Null, CancellationToken.None);
        // A bound far above every dispatch: the first two steps run one submission per command to profile them, the rest one each.
        TrainingSummary boundedRun = TrainingRun.Start(Context, options with { MaxSubmitMilliseconds = 1e9 }, bounded, TextWriter.Null, CancellationToken.None);
        Assert.True(plainRun.Steps >= 10, $"the run should have at least 10 steps, had {plainRun.Steps}");
        foreach (string run in new[] { overlapped, ahead, bounded }) AssertSameRun(plain, run);
        Assert.Equal((0, 0), (plainRun.LossesReadLate, overlappedRun.LossesReadLate));
        int readLate = LossesReadLateWithSubmitAhead(options, plainRun.Steps);
        Assert.True(readLate > 0);
        Assert.Equal((readLate, readLate), (aheadRun.LossesReadLate, boundedRun.LossesReadLate));

        // Every dispatch takes longer than a femtosecond.
        var error = Assert.Throws<InvalidInputException>(() => TrainingRun.Start(Context, options with { MaxSubmitMilliseconds = 1e-12 },
            Path.Combine(root, "too-tight"), TextWriter.Null, CancellationToken.None));
        Assert.Contains("below the longest single dispatch", error.Message);
    }

    /// <summary>A log that requests cancellation once the given step has been logged, as Ctrl-C would.</summary>
    internal sealed class StopAfterStep(int step, CancellationTokenSource cancellation) : StringWriter
    {
        public override void WriteLine(string? value)
        {
            if (value is not null && value.StartsWith("step", StringComparison.Ordinal) && value.Contains($" {step}/")) cancellation.Cancel();
            base.WriteLine(value);
        }
    }

    void IDisposable.Dispose()
    {
        Dispose();
        Directory.Delete(root, recursive: true);
    }
}
