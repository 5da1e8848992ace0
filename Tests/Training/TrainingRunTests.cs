using VkDiffusion.Model;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Trainer.Checkpoints;
using VkDiffusion.Trainer.Data;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Tests.Training;

public sealed class TrainingRunTests(GpuFixture fixture) : GpuTest(fixture), IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("vkdiff-train-").FullName;

    private string PrepareCorpus()
    {
        string text = Path.Combine(root, "corpus.txt");
        var random = new Random(7);
        string[] words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"];
        var documents = Enumerable.Range(0, 120).Select(_ => string.Join(' ', Enumerable.Range(0, 30).Select(_ => words[random.Next(words.Length)])));
        File.WriteAllText(text, string.Join("\n\n", documents));
        string data = Path.Combine(root, "data");
        CorpusPreparer.Prepare(new PrepareOptions { Inputs = [text], Tokenizer = "bytes", OutputDirectory = data, ValidationDocuments = 20 });
        return data;
    }

    private static TrainingOptions Options(string data, Objective objective) => new()
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

    [Theory]
    [InlineData(Objective.Mdm)]
    [InlineData(Objective.Ar)]
    public void The_same_seed_gives_the_same_losses_and_a_resumed_run_continues_bit_for_bit(Objective objective)
    {
        string data = PrepareCorpus();
        TrainingOptions options = Options(data, objective) with { Epochs = 1 };
        string first = Path.Combine(root, "first"), second = Path.Combine(root, "second"), resumed = Path.Combine(root, "resumed");
        TrainingSummary summary = TrainingRun.Start(Context, options, first, TextWriter.Null, CancellationToken.None);
        TrainingRun.Start(Context, options, second, TextWriter.Null, CancellationToken.None);
        double[] losses = TrainLosses(first);
        Assert.True(losses.Length >= 10, $"the run should have at least 10 steps, had {losses.Length}");
        Assert.Equal(losses, TrainLosses(second));

        // Stop after step 6 as Ctrl-C would, then resume: every loss equals the uninterrupted run's.
        using var cancellation = new CancellationTokenSource();
        var stopper = new StopAfterStep(6, cancellation);
        Assert.Throws<OperationCanceledException>(() => TrainingRun.Start(Context, options, resumed, stopper, cancellation.Token));
        Assert.Equal(6, TrainLosses(resumed).Length);
        TrainingSummary resumedSummary = TrainingRun.Resume(Context, resumed, TextWriter.Null, CancellationToken.None);
        Assert.Equal(losses, TrainLosses(resumed));
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
    public void A_non_finite_loss_stops_the_run_with_its_exit_code_and_keeps_the_last_checkpoint()
    {
        string data = PrepareCorpus();
        string run = Path.Combine(root, "diverging");
        using var cancellation = new CancellationTokenSource();
        Assert.Throws<OperationCanceledException>(() =>
            TrainingRun.Start(Context, Options(data, Objective.Ar), run, new StopAfterStep(3, cancellation), cancellation.Token));
        // Poison one weight of the saved checkpoint: the next step's loss is NaN.
        string checkpoint = TrainingRun.LastCheckpoint(run);
        var entries = new List<SafeTensorEntry>();
        Dictionary<string, string> metadata;
        using (SafeTensorsFile file = SafeTensorsFile.Open(checkpoint))
        {
            metadata = file.Metadata.ToDictionary();
            foreach (var (name, info) in file.Tensors)
            {
                float[] values = file.Read<float>(name);
                if (name == ModelParameters.FinalNorm) values[0] = float.NaN;
                entries.Add(SafeTensorEntry.FromArray(name, values, [.. info.Shape]));
            }
        }
        CheckpointFile.Write(checkpoint, entries, metadata);
        byte[] before = File.ReadAllBytes(checkpoint);

        var error = Assert.Throws<VkDiffusionException>(() => TrainingRun.Resume(Context, run, TextWriter.Null, CancellationToken.None));
        Assert.Equal(ExitCodes.Diverged, error.ExitCode);
        Assert.Contains("last good checkpoint", error.Message);
        Assert.Equal(before, File.ReadAllBytes(checkpoint));
    }

    [Fact]
    public void Overlapped_and_bounded_runs_train_bit_for_bit_like_a_plain_one_and_a_bound_below_a_dispatch_is_refused()
    {
        string data = PrepareCorpus();
        TrainingOptions options = Options(data, Objective.Mdm) with { Epochs = 1 };
        string plain = Path.Combine(root, "plain"), overlapped = Path.Combine(root, "overlapped"), bounded = Path.Combine(root, "bounded");
        TrainingRun.Start(Context, options with { OverlapHostWork = false }, plain, TextWriter.Null, CancellationToken.None);
        TrainingRun.Start(Context, options, overlapped, TextWriter.Null, CancellationToken.None);
        // A bound far above every dispatch: the first two steps run one submission per command to profile them, the rest one each.
        TrainingRun.Start(Context, options with { MaxSubmitMilliseconds = 1e9 }, bounded, TextWriter.Null, CancellationToken.None);
        double[] losses = TrainLosses(plain);
        Assert.True(losses.Length >= 10, $"the run should have at least 10 steps, had {losses.Length}");
        foreach (string run in new[] { overlapped, bounded })
        {
            Assert.Equal(losses, TrainLosses(run));
            using SafeTensorsFile expected = SafeTensorsFile.Open(TrainingRun.LastCheckpoint(plain));
            using SafeTensorsFile actual = SafeTensorsFile.Open(TrainingRun.LastCheckpoint(run));
            foreach (string name in expected.Tensors.Keys)
                Assert.True(expected.Read<float>(name).AsSpan().SequenceEqual(actual.Read<float>(name)), $"{name} differs in {run}");
        }

        // Every dispatch takes longer than a femtosecond.
        var error = Assert.Throws<InvalidInputException>(() => TrainingRun.Start(Context, options with { MaxSubmitMilliseconds = 1e-12 },
            Path.Combine(root, "too-tight"), TextWriter.Null, CancellationToken.None));
        Assert.Contains("below the longest single dispatch", error.Message);
    }

    /// <summary>A log that requests cancellation once the given step has been logged, as Ctrl-C would.</summary>
    private sealed class StopAfterStep(int step, CancellationTokenSource cancellation) : StringWriter
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
