using VkDiffusion.Model;
using VkDiffusion.Trainer.Data;
using VkDiffusion.Trainer.Experiments;

namespace VkDiffusion.Tests.Infrastructure;

/// <summary>Sweeps of tiny runs (a few steps each) over a small byte-tokenized corpus, for the sweep tests.</summary>
public static class TinySweeps
{
    /// <summary>
    /// Prepares the corpus under <paramref name="directory"/> and returns a spec of mdm and ar runs of the tiny preset
    /// at every epoch count, plus ar runs with each of <paramref name="tokenOrders"/>.
    /// </summary>
    public static SweepSpec Spec(string directory, long uniqueTokens, int sequenceLength, int[] epochs, int[] tokenOrders)
    {
        string text = Path.Combine(directory, "corpus.txt");
        File.WriteAllText(text, string.Join("\n\n", Enumerable.Range(0, 80).Select(i => $"entry {i}: the quick brown fox {i % 7} jumps over lazy dogs")));
        string data = Path.Combine(directory, "data");
        CorpusPreparer.Prepare(new PrepareOptions { Inputs = [text], Tokenizer = "bytes", OutputDirectory = data, ValidationDocuments = 10 });
        return new SweepSpec
        {
            Data = data,
            Objectives = [Objective.Mdm, Objective.Ar],
            Presets = ["tiny"],
            UniqueTokens = [uniqueTokens],
            Epochs = epochs,
            SequenceLength = sequenceLength,
            BatchSize = 4,
            EvalWindows = 2,
            EvalMonteCarlo = 2,
            TokenOrders = tokenOrders,
        };
    }
}
