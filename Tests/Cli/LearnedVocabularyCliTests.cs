using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Tests.Runtime;
using VkDiffusion.Trainer.Data;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Tests.Cli;

/// <summary>A learned vocabulary end to end through the command line: prepare learns it, train carries it into the checkpoint, sample reads it there.</summary>
public sealed class LearnedVocabularyCliTests
{
    [Fact]
    public void Prepare_train_and_sample_with_a_learned_bpe()
    {
        using var directory = new TemporaryDirectory();
        var random = new Random(3);
        string[] words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta", "kappa"];
        string Corpus(string name, string[] words) => directory.Write(name, string.Join("\n\n",
            Enumerable.Range(0, 60).Select(_ => string.Join(' ', Enumerable.Range(0, 25).Select(_ => words[random.Next(words.Length)])))));
        string corpus = Corpus("corpus.txt", words);
        string data = directory.File("data"), run = directory.File("run");

        var (exitCode, output, error) = CliErrorTests.RunVkdiff(null, "prepare", "--tokenizer", "bpe280", "--input", corpus, "--val-docs", "5", "--out", data);
        Assert.True(exitCode == 0, error);
        Assert.Contains("tokenizer bpe280 (vocab 280, padded 320)", output);
        (exitCode, _, error) = CliErrorTests.RunVkdiff(null, "train", "--data", data, "--objective", "mdm", "--model", "tiny", "--unique-tokens", "512",
            "--epochs", "1", "--seq-len", "32", "--batch", "4", "--out", run);
        Assert.True(exitCode == 0, error);

        using (var dataset = TokenDataset.Open(data))
        using (RunCheckpoint.Loaded checkpoint = RunCheckpoint.Open(TrainingRun.LastCheckpoint(run)))
            Assert.Equal(((BytePairTokenizer)dataset.CreateTokenizer()).TokenBytes, ((BytePairTokenizer)checkpoint.CreateTokenizer()).TokenBytes);
        // Another corpus learns another bpe280: its ids mean other tokens, so eval refuses it.
        string other = directory.File("other");
        (exitCode, _, error) = CliErrorTests.RunVkdiff(null, "prepare", "--tokenizer", "bpe280", "--val-docs", "5", "--out", other,
            "--input", Corpus("other.txt", ["uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho"]));
        Assert.True(exitCode == 0, error);
        (exitCode, _, error) = CliErrorTests.RunVkdiff(null, "eval", "--checkpoint", TrainingRun.LastCheckpoint(run), "--data", other);
        Assert.Equal(7, exitCode);
        Assert.Contains("both use a bpe280 vocabulary, but learned from other corpora", error);

        // The data directory is gone: the checkpoint alone must decode its samples.
        Directory.Delete(data, recursive: true);
        (exitCode, output, error) = CliErrorTests.RunVkdiff(null, "sample", "--checkpoint", TrainingRun.LastCheckpoint(run), "--prompt", "alpha beta", "--length", "6");
        Assert.True(exitCode == 0, error);
        Assert.StartsWith("alpha beta", output);

        (exitCode, _, error) = CliErrorTests.RunVkdiff(null, "prepare", "--tokenizer", "bpe70000", "--input", corpus, "--out", directory.File("bad"));
        Assert.Equal(2, exitCode);
        Assert.Contains("bpeN (a byte-level BPE of N ids learned from the corpus, N in 258..65535)", error);
    }
}
