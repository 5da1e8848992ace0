using System.Text;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Trainer.Data;

namespace VkDiffusion.Tests.Data;

/// <summary>`vkdiff prepare --tokenizer bpeN`: the learner, the tokenizer over its ranks, and the dataset that keeps them.</summary>
public sealed class LearnedBpeTests
{
    private static readonly string[] Documents =
    [
        "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs on and on.",
        "A dictionary defines a word by other words: a definition of the word 'word' uses words.",
        "Diffusion models denoise masked tokens, while autoregressive models predict the next token.",
        "When unique data is scarce, repeated epochs help the masked model more than the next-token model.",
        "There are 365 days in a year, 24 hours in a day and 60 minutes in an hour; that's 8760 hours.",
    ];

    /// <summary>
    /// The 60 joins an independent plain-Python BPE learns from <see cref="Documents"/> (GPT-2's pre-tokenizer written for
    /// ASCII, most frequent pair first, ties to the lower pair of ids), in the order it learns them.
    /// </summary>
    private static readonly string[] PythonJoins =
    [
        "he", " t", " a", " d", " m", "or", "in", " the", " o", " w", "ke", "re", "ord", "de", "ode", " mode", " word", " model", " h", " in",
        "The", "ar", "at", "es", "ic", "io", "ou", "oke", " an", " de", " hou", "ion", "oken", " hour", " b", " f", " n", " s", " u", "60",
        "as", "ay", "ep", "ex", "fin", "is", "le", "og", "ox", "qu", "tion", "ut", "ve", " th", " token", " day", " dog", " mas", "ore", " on",
    ];

    [Fact]
    public void The_learner_joins_the_pairs_a_reference_bpe_joins_in_the_same_order()
    {
        byte[][] tokens = BytePairLearner.Learn(Documents, 256 + PythonJoins.Length);
        Assert.Equal(Enumerable.Range(0, 256).Select(b => new[] { (byte)b }), tokens.Take(256));
        Assert.Equal(PythonJoins, tokens.Skip(256).Select(token => Encoding.UTF8.GetString(token)));
    }

    [Fact]
    public void A_join_that_spells_an_existing_token_reuses_it()
    {
        // "ab" then "bc" are learned first; "abc" is then reached as ab+c and as a+bc: one token, not two with the same bytes.
        string[] documents = [.. Enumerable.Repeat("ab ab ab ab bc bc bc bc abc abc abc abcabc", 3)];
        byte[][] tokens = BytePairLearner.Learn(documents, 262);
        Assert.Equal(tokens.Length, tokens.Select(Convert.ToBase64String).Distinct().Count());
        var tokenizer = new BytePairTokenizer("bpe263", tokens);
        Assert.Equal("abcabc ab bc", tokenizer.Decode(tokenizer.Encode("abcabc ab bc")));
    }

    [Fact]
    public void A_corpus_too_small_for_the_vocabulary_is_refused_with_the_size_it_can_make()
    {
        var error = Assert.Throws<InvalidInputException>(() => BytePairLearner.Learn(["abab"], 300));
        Assert.Contains("choose --tokenizer bpe", error.Message);
    }

    [Theory]
    [InlineData("The quick brown fox jumps over the lazy dog.")]
    [InlineData("emoji 😀 family 👩‍👩‍👧, 日本語, e\u0301, nul \0, windows\r\nendings, <|endoftext|> and [MASK]")]
    public void Decode_inverts_encode_and_merges_shorten_the_text_it_learned_from(string text)
    {
        BytePairTokenizer tokenizer = BytePairTokenizer.Learned("bpe317", BytePairLearner.Learn(Documents, 316), "test");
        Assert.Equal((317, 316, 317, 320), (tokenizer.VocabSize, tokenizer.EndOfDocumentId, tokenizer.MaskId, tokenizer.PaddedVocabSize));
        int[] ids = tokenizer.Encode(text);
        Assert.Equal(text, tokenizer.Decode(ids));
        Assert.All(ids, id => Assert.InRange(id, 0, tokenizer.EndOfDocumentId - 1));
        // " the" and " dog" are tokens: the learned text takes fewer ids than bytes.
        Assert.True(tokenizer.Encode(Documents[0]).Length < Encoding.UTF8.GetByteCount(Documents[0]) * 3 / 4);
        Assert.Equal(VocabularySpec.LearnedBpe(317), new VocabularySpec(tokenizer.Name, tokenizer.EndOfDocumentId, tokenizer.MaskId, tokenizer.PaddedVocabSize));
    }

    [Fact]
    public void Prepare_learns_from_the_training_documents_only_and_keeps_the_ranks_beside_the_tokens()
    {
        using var temp = new TemporaryDirectory();
        // "zyzzyva" fills the validation document: were it learned from, its pairs would outnumber every training pair.
        string validation = string.Join(' ', Enumerable.Repeat("zyzzyva", 200));
        string input = temp.Write("corpus.txt", string.Join("\n\n", Documents.Append(validation)) + "\n");
        DatasetMeta meta = CorpusPreparer.Prepare(new PrepareOptions { Inputs = [input], Tokenizer = "bpe300", OutputDirectory = temp.File("out"), ValidationDocuments = 1 });
        Assert.Equal(("bpe300", 300, 299, 300, 320), (meta.Tokenizer, meta.VocabSize, meta.EndOfDocumentId, meta.MaskId, meta.PaddedVocabSize));
        Assert.True(File.Exists(temp.File("out/" + BytePairTokenizer.RanksFileName)));

        using var dataset = TokenDataset.Open(temp.File("out"));
        var tokenizer = (BytePairTokenizer)dataset.CreateTokenizer();
        Assert.Equal(BytePairLearner.Learn(Documents, 299), tokenizer.TokenBytes);
        Assert.DoesNotContain(tokenizer.TokenBytes, token => Encoding.UTF8.GetString(token).Contains("zz"));
        var train = new uint[dataset.Train.TokenCount];
        dataset.Train.CopyTokens(0, train);
        Assert.Equal(string.Join("<|endoftext|>", Documents) + "<|endoftext|>", tokenizer.Decode([.. train.Select(id => (int)id)]));
        var val = new uint[dataset.Val.TokenCount];
        dataset.Val.CopyTokens(0, val);
        Assert.Equal(validation + "<|endoftext|>", tokenizer.Decode([.. val.Select(id => (int)id)]));
    }

    [Fact]
    public void A_dataset_whose_ranks_are_missing_or_damaged_is_refused_with_what_to_do()
    {
        using var temp = new TemporaryDirectory();
        string input = temp.Write("corpus.txt", string.Join("\n\n", Documents) + "\n");
        CorpusPreparer.Prepare(new PrepareOptions { Inputs = [input], Tokenizer = "bpe290", OutputDirectory = temp.File("out"), ValidationDocuments = 1 });
        string ranks = temp.File("out/" + BytePairTokenizer.RanksFileName);
        string text = File.ReadAllText(ranks);

        File.WriteAllText(ranks, text.Replace("\n", " x\n"));
        Assert.Contains("the tokenizer's ranks are damaged, prepare the dataset again", Assert.Throws<InvalidInputException>(() => TokenDataset.Open(temp.File("out"))).Message);
        File.WriteAllText(ranks, string.Join('\n', text.Split('\n').Skip(1)));
        Assert.Contains("damaged", Assert.Throws<InvalidInputException>(() => TokenDataset.Open(temp.File("out"))).Message);
        File.WriteAllText(ranks, text + "YWFhYWE= 289\n");
        Assert.Contains("not the bpe290 it is named for", Assert.Throws<InvalidInputException>(() => TokenDataset.Open(temp.File("out"))).Message);
        File.Delete(ranks);
        Assert.Contains("holds no tokenizer.tiktoken; prepare it again", Assert.Throws<InvalidInputException>(() => TokenDataset.Open(temp.File("out"))).Message);
    }

    [Theory]
    [InlineData("bpe257")]
    [InlineData("bpe65536")]
    [InlineData("bpe+300")]
    [InlineData("bpe")]
    public void Names_outside_the_learned_range_are_unknown(string name)
    {
        Assert.False(Tokenizers.IsKnown(name));
        Assert.Contains("bpeN", Assert.Throws<InvalidInputException>(() => VocabularySpec.ByName(name)).Message);
    }
}
