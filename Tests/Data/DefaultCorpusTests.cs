using System.Security.Cryptography;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Trainer.Data;

namespace VkDiffusion.Tests.Data;

/// <summary>The shipped default corpus: the same tokens on every OS, and exactly GCIDE's first and last entries.</summary>
public sealed class DefaultCorpusTests
{
    /// <summary>
    /// `prepare --tokenizer bytes` of the default corpus, computed outside this code base (Python, from the JSONL: each
    /// entry's UTF-8 bytes then 256, as little-endian uint16). The 126,924 validation tokens are docs/results.md's count
    /// for the last 500 entries of the whole dictionary. The Windows build under wine must give the same (WineSmokeTests).
    /// </summary>
    public static readonly PreparedSplit ByteTrain = new(927, 300_156, "31b148bb4826791ea91adea09002db8217a81595105c801fb0a72765c80e9dd5");
    public static readonly PreparedSplit ByteVal = new(500, 126_924, "5815f503341cbb97d72d122f39e9c76103a0fde88a155d5b83693c15bc1385c3");

    public sealed record PreparedSplit(long DocumentCount, long TokenCount, string Sha256);

    [Fact]
    public void Prepare_without_input_gives_the_default_corpus_tokens_and_its_validation_split()
    {
        using var temp = new TemporaryDirectory();
        DatasetMeta meta = CorpusPreparer.Prepare(new PrepareOptions { Tokenizer = "bytes", OutputDirectory = temp.File("data") });
        Assert.Equal(ByteTrain, new PreparedSplit(meta.Train.DocumentCount, meta.Train.TokenCount, Sha256(temp.File("data/train.bin"))));
        Assert.Equal(ByteVal, new PreparedSplit(meta.Val.DocumentCount, meta.Val.TokenCount, Sha256(temp.File("data/val.bin"))));
        Assert.Equal("last 500 documents", meta.ValidationRule);
    }

    [Fact]
    public void An_explicit_split_option_overrides_the_default_corpus_split()
    {
        using var temp = new TemporaryDirectory();
        DatasetMeta meta = CorpusPreparer.Prepare(new PrepareOptions { Tokenizer = "bytes", OutputDirectory = temp.File("data"), ValidationFraction = 0.1 });
        Assert.Equal((long)Math.Round(0.1 * 1427), meta.Val.DocumentCount);
    }

    [GcideFact]
    public void The_default_corpus_is_the_first_and_last_entries_of_the_installed_gcide()
    {
        string[] whole = new DictdCorpusSource(GcideFactAttribute.DictionaryPath).ReadDocuments().ToArray();
        string[] excerpt = new JsonlCorpusSource(DefaultCorpus.RequirePath()).ReadDocuments().ToArray();
        int head = (int)ByteTrain.DocumentCount, tail = (int)ByteVal.DocumentCount;
        Assert.Equal(head + tail, excerpt.Length);
        Assert.Equal(whole.Take(head), excerpt.Take(head));
        Assert.Equal(whole.TakeLast(tail), excerpt.TakeLast(tail));
    }

    private static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));
}
