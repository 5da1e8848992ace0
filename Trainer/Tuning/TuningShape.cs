using System.Numerics;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;

namespace VkDiffusion.Trainer.Tuning;

/// <summary>
/// The kernel shapes of a training step, as far as they decide which kernel variant is fastest: the model's widths,
/// head dim and vocabulary, the objective (causal or bidirectional attention), the precision, and the tokens per step
/// rounded up to powers of two (a tuning measured at sequence 256 holds for 250). The layer count is left out: it
/// repeats the same kernels, it does not change them.
/// </summary>
public sealed record TuningShape(int ModelDim, int Heads, int HeadDim, int HiddenDim, int VocabularySize, Objective Objective,
    int SequenceLength, int BatchSize, Precision Precision)
{
    public static TuningShape For(ModelConfig model, Objective objective, int sequenceLength, int batchSize, Precision precision) =>
        new(model.ModelDim, model.Heads, model.HeadDim, model.HiddenDim, model.Vocabulary.PaddedSize, objective, sequenceLength, batchSize, precision);

    /// <summary>The cache's key for this shape, e.g. mdm-d256-h4x64-ff704-v264-T256-B8-fp32.</summary>
    public string Bucket =>
        $"{Objective.ToString().ToLowerInvariant()}-d{ModelDim}-h{Heads}x{HeadDim}-ff{HiddenDim}-v{VocabularySize}" +
        $"-T{BitOperations.RoundUpToPowerOf2((uint)SequenceLength)}-B{BitOperations.RoundUpToPowerOf2((uint)BatchSize)}-{Precision.Name()}";
}
