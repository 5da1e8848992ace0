using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Training;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Tests.Export;

/// <summary>The tiny preset trained for a few steps on a small corpus, and vkdiff's own logits for a token sequence.</summary>
public static class TinyTrainedModel
{
    /// <summary>
    /// Text both tokenizers are checked on: contractions, digits, accents, emoji, runs of spaces, tabs and newlines, and
    /// the special tokens' strings, which plain text encodes as ordinary characters.
    /// </summary>
    public const string SampleText = "The fox's 1234 dogs jumped  over\tnaïve cafés 😀!\n\n   They'll've re-done it: \"x=y+1\" ... ok?\r\nend <|endoftext|><|eod|> <|mask|>";

    /// <summary>Trains 5 steps (batch 4, sequence 32) of the tiny preset on the training tests' corpus and returns the run's last checkpoint.</summary>
    public static string Train(GpuContext context, string directory, Objective objective, string vocabularyName)
    {
        string data = TrainingRunTests.PrepareCorpus(directory, vocabularyName);
        TrainingOptions options = TrainingRunTests.Options(data, objective) with
        {
            Model = ModelPresets.Get("tiny", VocabularySpec.ByName(vocabularyName)),
            UniqueTokens = 5 * 4 * 32,
            Epochs = 1,
            LearningRate = 3e-3,
            EvalEvery = 0,
            EvalWindows = 1,
            EvalMonteCarlo = 1,
        };
        string run = Path.Combine(directory, "run");
        TrainingRun.Start(context, options, run, TextWriter.Null, CancellationToken.None);
        return TrainingRun.LastCheckpoint(run);
    }

    /// <summary>vkdiff's logits [tokens.Length, padded vocabulary] for one sequence at positions 0, 1, ...</summary>
    public static float[] Logits(GpuContext context, ModelConfig config, Objective objective, IReadOnlyDictionary<string, float[]> parameters,
        uint[] tokens, Precision precision)
    {
        var graph = TransformerGraph.Build(config, objective, GraphMode.Logits, 1, tokens.Length, context.Info, precision: precision);
        using var session = new TransformerSession(context, graph);
        session.LoadParameters(parameters);
        session.WriteInputs(0, tokens, tokens, [.. Enumerable.Range(0, tokens.Length).Select(position => (uint)position)]);
        session.Run();
        return session.ReadLogits();
    }
}
