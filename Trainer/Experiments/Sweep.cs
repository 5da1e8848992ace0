using System.Diagnostics;
using System.Text.Json;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Files;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Trainer.Experiments;

/// <summary>One training run of a sweep.</summary>
public sealed record SweepRun(Objective Objective, string Preset, long UniqueTokens, int Epochs, int TokenOrders)
{
    /// <summary>The objective as results.csv names it: ar, mdm, or ar_orders{N} for the token-order ablation.</summary>
    public string ObjectiveName => Objective == Objective.Ar && TokenOrders > 1 ? $"ar_orders{TokenOrders}" : Objective.ToString().ToLowerInvariant();

    public string Id => IdOf(ObjectiveName, Preset, UniqueTokens, Epochs);

    /// <summary>A run's directory name, as results.csv's objective, preset, budget and epochs name it.</summary>
    public static string IdOf(string objectiveName, string preset, long uniqueTokens, int epochs) => $"{objectiveName}-{preset}-U{uniqueTokens}-E{epochs}";
}

/// <summary>What <see cref="Sweep.Status"/> found for one run.</summary>
public enum SweepRunState { Done, Running, Pending }

/// <summary>
/// Runs the combinations of a <see cref="SweepSpec"/> that a worker's <see cref="SweepShard"/> owns, in turn on one
/// device. Each run lives in OUT/runs/ID; a finished run (result.json present) is skipped, an interrupted one
/// resumed. A worker claims a run by holding OUT/runs/ID.lock while it trains it (the OS drops the claim if the
/// worker dies, so the next invocation resumes the run), and skips a run another worker holds. Each finished run
/// appends one row to OUT/results.csv. The worker that sees every run done plots validation loss against
/// epochs for each budget and both families (OUT/loss_vs_epochs_U*.png).
/// </summary>
public static class Sweep
{
    public const string ResultsFile = "results.csv";
    private const string ResultFile = "result.json";

    public static IReadOnlyList<SweepRun> Expand(SweepSpec spec)
    {
        var runs = new List<SweepRun>();
        foreach (long unique in spec.UniqueTokens)
            foreach (string preset in spec.Presets)
                foreach (int epochs in spec.Epochs)
                {
                    foreach (Objective objective in spec.Objectives) runs.Add(new SweepRun(objective, preset, unique, epochs, 1));
                    foreach (int orders in spec.TokenOrders.Where(o => o > 1)) runs.Add(new SweepRun(Objective.Ar, preset, unique, epochs, orders));
                }
        return runs;
    }

    private static string RunDirectory(string outputDirectory, SweepRun run) => Path.Combine(outputDirectory, "runs", run.Id);
    private static string ResultPath(string outputDirectory, SweepRun run) => Path.Combine(RunDirectory(outputDirectory, run), ResultFile);
    internal static string ClaimPath(string outputDirectory, SweepRun run) => RunDirectory(outputDirectory, run) + ".lock";

    /// <summary>Every run of the spec with its state: done (result.json written), running (a worker holds its claim) or pending.</summary>
    public static IReadOnlyList<(SweepRun Run, SweepRunState State)> Status(SweepSpec spec, string outputDirectory) =>
        Expand(spec).Select(run => (run,
            File.Exists(ResultPath(outputDirectory, run)) ? SweepRunState.Done
            : ExclusiveLock.IsHeld(ClaimPath(outputDirectory, run)) ? SweepRunState.Running
            : SweepRunState.Pending)).ToList();

    /// <summary>Runs this worker's share of the spec; returns the results of every run done so far, by any worker.</summary>
    public static IReadOnlyList<RunResult> Run(GpuContext context, SweepSpec spec, SweepShard shard, string outputDirectory, TextWriter log, CancellationToken cancel)
    {
        IReadOnlyList<SweepRun> runs = Expand(spec);
        Directory.CreateDirectory(Path.Combine(outputDirectory, "runs"));
        string resultsPath = Path.Combine(outputDirectory, ResultsFile);
        string vocabulary, datasetFingerprint;
        using (var dataset = Data.TokenDataset.Open(spec.Data))
        {
            vocabulary = dataset.Meta.Tokenizer;
            datasetFingerprint = dataset.Meta.Fingerprint();
        }
        if (shard.Count > 1) log.WriteLine($"worker {shard} (from {shard.Source}): runs i with i mod {shard.Count} = {shard.Index}");
        Precision precision = spec.ResolvePrecision(context);

        // Work is measured in parameter-tokens (compute / 6) so the ETA weighs big runs by their cost.
        double Work(SweepRun run) => ModelPresets.Get(run.Preset, VocabularySpec.ByName(vocabulary)).FlopsParameterCount * run.UniqueTokens * run.Epochs;
        var owned = Enumerable.Range(0, runs.Count).Where(shard.Owns).ToList();
        double totalWork = owned.Sum(index => Work(runs[index])), doneWork = 0, measuredWork = 0;
        var clock = Stopwatch.StartNew();
        foreach (int index in owned)
        {
            SweepRun run = runs[index];
            string prefix = $"[{index + 1}/{runs.Count}] {run.Id}";
            if (File.Exists(ResultPath(outputDirectory, run)))
            {
                doneWork += Work(run);
                log.WriteLine($"{prefix}: done before, skipped");
                continue;
            }
            using ExclusiveLock? claim = ExclusiveLock.TryAcquire(ClaimPath(outputDirectory, run));
            if (claim is null)
            {
                log.WriteLine($"{prefix}: running in another worker, skipped");
                continue;
            }
            // Another worker may have finished the run between the check above and the claim.
            if (File.Exists(ResultPath(outputDirectory, run)))
            {
                log.WriteLine($"{prefix}: done by another worker, skipped");
                continue;
            }
            string eta = measuredWork > 0 ? TrainingRun.FormatDuration((totalWork - doneWork) * clock.Elapsed.TotalSeconds / measuredWork) : "?";
            log.WriteLine($"{prefix} (sweep ETA {eta})");
            RunResult result = Train(context, spec, run, vocabulary, precision, datasetFingerprint, RunDirectory(outputDirectory, run), log, cancel);
            ResultsTable.Append(resultsPath, [result]);
            AtomicFile.WriteAllText(ResultPath(outputDirectory, run), JsonSerializer.Serialize(result, SweepSpec.Json));
            doneWork += Work(run);
            measuredWork += Work(run);
        }

        var results = runs.Select(run => ResultPath(outputDirectory, run)).Where(File.Exists)
            .Select(path => JsonSerializer.Deserialize<RunResult>(File.ReadAllText(path), SweepSpec.Json)!).ToList();
        if (results.Count < runs.Count)
        {
            log.WriteLine($"worker {shard} finished; {runs.Count - results.Count} of {runs.Count} runs are not done yet (vkdiff sweep --status)");
            return results;
        }
        StudyPlots.WriteEpochPlots(outputDirectory, results);
        log.WriteLine($"sweep finished: {results.Count} runs in {resultsPath}");
        return results;
    }

    /// <summary>Trains one run, resuming it from its last checkpoint when an earlier worker got that far.</summary>
    private static RunResult Train(GpuContext context, SweepSpec spec, SweepRun run, string vocabulary, Precision precision, string datasetFingerprint,
        string runDirectory, TextWriter log, CancellationToken cancel)
    {
        TrainingOptions options = Options(spec, run, vocabulary) with { Precision = precision };
        // A worker that died before the run's first checkpoint left a config without one: Resume starts that afresh.
        TrainingSummary summary = File.Exists(Path.Combine(runDirectory, TrainingRun.ConfigFile))
            ? TrainingRun.Resume(context, runDirectory, log, cancel)
            : TrainingRun.Start(context, options, runDirectory, log, cancel);
        double parameters = options.Model.FlopsParameterCount;
        return new RunResult(run.ObjectiveName, run.Preset, (long)parameters, run.UniqueTokens, run.Epochs, summary.Tokens,
            6 * parameters * summary.Tokens, summary.FinalValidationLoss, summary.BestValidationLoss, summary.BestEpoch, summary.WallSeconds, context.Info.Name,
            datasetFingerprint, vocabulary);
    }

    internal static TrainingOptions Options(SweepSpec spec, SweepRun run, string vocabulary) => new()
    {
        Objective = run.Objective,
        Preset = run.Preset,
        Model = ModelPresets.Get(run.Preset, VocabularySpec.ByName(vocabulary)) with { Dropout = spec.Dropout },
        DataDirectory = spec.Data,
        UniqueTokens = run.UniqueTokens,
        Epochs = run.Epochs,
        SequenceLength = spec.SequenceLength,
        BatchSize = spec.BatchSize,
        LearningRate = spec.LearningRate,
        MinLearningRate = spec.MinLearningRate ?? spec.LearningRate / 10,
        EvalMonteCarlo = spec.EvalMonteCarlo,
        EvalWindows = spec.EvalWindows,
        Seed = spec.Seed,
        TokenOrders = run.TokenOrders,
        LogEvery = 100,
        MaxSubmitMilliseconds = spec.MaxSubmitMilliseconds,
    };
}
