using System.Diagnostics;
using System.Text.Json;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Files;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Trainer.Experiments;

/// <summary>One training run of a sweep.</summary>
public sealed record SweepRun(Objective Objective, string Preset, long UniqueTokens, int Epochs, int TokenOrders)
{
    /// <summary>The objective as results.csv names it: ar, mdm, or ar_orders{N} for the token-order ablation.</summary>
    public string ObjectiveName => Objective == Objective.Ar && TokenOrders > 1 ? $"ar_orders{TokenOrders}" : Objective.ToString().ToLowerInvariant();

    public string Id => $"{ObjectiveName}-{Preset}-U{UniqueTokens}-E{Epochs}";
}

/// <summary>
/// Runs every combination of a <see cref="SweepSpec"/> in turn on one device. Each run lives in
/// OUT/runs/ID; a finished run (result.json present) is skipped, an interrupted one resumed. Each
/// finished run appends one row to OUT/results.csv. At the end it plots validation loss against epochs
/// for each budget and both families (OUT/loss_vs_epochs_U*.png).
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

    public static IReadOnlyList<RunResult> Run(GpuContext context, SweepSpec spec, string outputDirectory, TextWriter log, CancellationToken cancel)
    {
        IReadOnlyList<SweepRun> runs = Expand(spec);
        Directory.CreateDirectory(outputDirectory);
        using var held = ExclusiveLock.Acquire(Path.Combine(outputDirectory, TrainingRun.LockFile), $"sweep directory {outputDirectory}");
        string resultsPath = Path.Combine(outputDirectory, ResultsFile);
        string vocabulary, datasetFingerprint;
        using (var dataset = Data.TokenDataset.Open(spec.Data))
        {
            vocabulary = dataset.Meta.Tokenizer;
            datasetFingerprint = dataset.Meta.Fingerprint();
        }

        // Work is measured in parameter-tokens (compute / 6) so the ETA weighs big runs by their cost.
        double Work(SweepRun run) => ModelPresets.Get(run.Preset, VocabularySpec.ByName(vocabulary)).FlopsParameterCount * run.UniqueTokens * run.Epochs;
        double totalWork = runs.Sum(Work), doneWork = 0, measuredWork = 0;
        var clock = Stopwatch.StartNew();
        var results = new List<RunResult>();
        for (int index = 0; index < runs.Count; index++)
        {
            SweepRun run = runs[index];
            string runDirectory = Path.Combine(outputDirectory, "runs", run.Id);
            string resultPath = Path.Combine(runDirectory, ResultFile);
            if (File.Exists(resultPath))
            {
                results.Add(JsonSerializer.Deserialize<RunResult>(File.ReadAllText(resultPath), SweepSpec.Json)!);
                doneWork += Work(run);
                log.WriteLine($"[{index + 1}/{runs.Count}] {run.Id}: done before, skipped");
                continue;
            }
            string eta = measuredWork > 0 ? TrainingRun.FormatDuration((totalWork - doneWork) * clock.Elapsed.TotalSeconds / measuredWork) : "?";
            log.WriteLine($"[{index + 1}/{runs.Count}] {run.Id} (sweep ETA {eta})");
            TrainingOptions options = Options(spec, run, vocabulary);
            TrainingSummary summary = File.Exists(Path.Combine(runDirectory, TrainingRun.ConfigFile))
                ? TrainingRun.Resume(context, runDirectory, log, cancel)
                : TrainingRun.Start(context, options, runDirectory, log, cancel);
            double parameters = options.Model.FlopsParameterCount;
            var result = new RunResult(run.ObjectiveName, run.Preset, (long)parameters, run.UniqueTokens, run.Epochs, summary.Tokens,
                6 * parameters * summary.Tokens, summary.FinalValidationLoss, summary.BestValidationLoss, summary.BestEpoch, summary.WallSeconds, context.Info.Name,
                datasetFingerprint, vocabulary);
            ResultsTable.Append(resultsPath, [result]);
            File.WriteAllText(resultPath, JsonSerializer.Serialize(result, SweepSpec.Json));
            results.Add(result);
            doneWork += Work(run);
            measuredWork += Work(run);
        }
        StudyPlots.WriteEpochPlots(outputDirectory, results);
        log.WriteLine($"sweep finished: {results.Count} runs in {resultsPath}");
        return results;
    }

    internal static TrainingOptions Options(SweepSpec spec, SweepRun run, string vocabulary) => new()
    {
        Objective = run.Objective,
        Preset = run.Preset,
        Model = ModelPresets.Get(run.Preset, VocabularySpec.ByName(vocabulary)),
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
