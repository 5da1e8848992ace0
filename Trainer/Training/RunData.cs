using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Data;

namespace VkDiffusion.Trainer.Training;

/// <summary>
/// What a run reads, opened and checked before the run writes anything: the dataset (its tokenizer must be the
/// model's), the epoch plan of U tokens x E epochs, and the validation windows. Every error here leaves the run
/// directory as it was, so the corrected command is accepted.
/// </summary>
internal sealed class RunData : IDisposable
{
    private RunData(TokenDataset dataset, EpochPlan plan, long totalSteps, IReadOnlyList<uint[]> evaluationWindows)
    {
        Dataset = dataset;
        Plan = plan;
        TotalSteps = totalSteps;
        EvaluationWindows = evaluationWindows;
    }

    public TokenDataset Dataset { get; }
    public EpochPlan Plan { get; }
    public long TotalSteps { get; }
    public IReadOnlyList<uint[]> EvaluationWindows { get; }

    public static RunData Open(TrainingOptions options)
    {
        TokenDataset dataset = TokenDataset.Open(options.DataDirectory);
        try
        {
            if (dataset.Meta.Tokenizer != options.Model.Vocabulary.Name)
                throw new InvalidInputException($"{options.DataDirectory} was tokenized with '{dataset.Meta.Tokenizer}' but the model uses the '{options.Model.Vocabulary.Name}' vocabulary.");
            var plan = EpochPlan.Create(dataset.Train, options.UniqueTokens, options.Epochs, options.SequenceLength, (ulong)options.Seed);
            int sequences = options.BatchSize * options.GradientAccumulation, length = options.SequenceLength;
            long totalSteps = plan.BatchCount(sequences);
            if (totalSteps < 1)
                throw new InvalidInputException($"U x E = {plan.TotalTokens:N0} tokens make {plan.WindowCount} windows of {length + 1} tokens, fewer than one step " +
                    $"of {sequences} sequences; raise --unique-tokens or --epochs, or lower --batch or --seq-len.");
            var validation = new ValidationWindows(dataset.Val, length);
            int count = (int)Math.Min(options.EvalWindows, validation.WindowCount);
            if (count == 0)
                throw new InvalidInputException($"the validation split of {options.DataDirectory} holds no window of {length + 1} tokens; prepare it with more --val-docs.");
            var buffer = new uint[count * (length + 1)];
            validation.CopyWindows(0, count, buffer);
            var windows = Enumerable.Range(0, count).Select(w => buffer[(w * (length + 1))..((w + 1) * (length + 1))]).ToList();
            return new RunData(dataset, plan, totalSteps, windows);
        }
        catch
        {
            dataset.Dispose();
            throw;
        }
    }

    public void Dispose() => Dataset.Dispose();
}
