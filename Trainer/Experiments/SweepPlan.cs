using VkDiffusion.Model;
using VkDiffusion.Trainer.Data;

namespace VkDiffusion.Trainer.Experiments;

/// <summary>One run of a plan: the steps and training tokens the sweep will run for it, its compute 6ND, and the
/// seconds that takes at the spec's measured throughput for its preset (null where the spec has none).</summary>
public sealed record PlannedRun(SweepRun Run, long Steps, long Tokens, double Flops, double? Seconds);

/// <summary>
/// What a sweep will run before it runs it: every run in the order the sweep takes them, with the budget arithmetic
/// of a device with limited time (a lent GPU): tokens from the same epoch plan the training uses, and seconds from the
/// spec's <see cref="SweepSpec.TokensPerSecond"/>. Evaluations are not counted: the spec's time limit keeps room for them.
/// </summary>
public sealed record SweepPlan(IReadOnlyList<PlannedRun> Runs, double? TimeLimitSeconds)
{
    public long Tokens => Runs.Sum(run => run.Tokens);
    public double Flops => Runs.Sum(run => run.Flops);

    /// <summary>The training seconds of all runs; null when a run's preset has no measured throughput.</summary>
    public double? Seconds => Runs.All(run => run.Seconds is not null) ? Runs.Sum(run => run.Seconds!.Value) : null;

    /// <summary>Whether the plan is known to fit the spec's time limit (true without a limit).</summary>
    public bool Fits => TimeLimitSeconds is null || Seconds <= TimeLimitSeconds;

    public static SweepPlan For(SweepSpec spec)
    {
        using TokenDataset dataset = TokenDataset.Open(spec.Data);
        var vocabulary = VocabularySpec.ByName(dataset.Meta.Tokenizer);
        var runs = Sweep.Expand(spec).Select(run =>
        {
            var epochs = EpochPlan.Create(dataset.Train, run.UniqueTokens, run.Epochs, spec.SequenceLength, (ulong)spec.Seed);
            long steps = epochs.BatchCount(spec.BatchSize);
            long tokens = epochs.TokensSeenAfterBatches(steps, spec.BatchSize);
            double? seconds = spec.TokensPerSecond.TryGetValue(run.Preset, out double rate) ? tokens / rate : null;
            return new PlannedRun(run, steps, tokens, 6 * ModelPresets.Get(run.Preset, vocabulary).FlopsParameterCount * tokens, seconds);
        }).ToList();
        return new SweepPlan(runs, spec.TimeLimitSeconds);
    }
}
