using System.Text.Json;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Data;

/// <summary>
/// A token directory written by `vkdiff prepare`, opened and checked: meta.json against the file sizes, document
/// starts increasing with every document ending in end-of-document, and every token inside the vocabulary.
/// Any mismatch is an InvalidInputException telling the user to prepare the data again.
/// </summary>
public sealed class TokenDataset : IDisposable
{
    private TokenDataset(string directory, DatasetMeta meta, TokenSplit train, TokenSplit val, BytePairTokenizer? learned)
    {
        Learned = learned;
        Directory = directory;
        Meta = meta;
        Train = train;
        Val = val;
    }

    public string Directory { get; }
    public DatasetMeta Meta { get; }
    public TokenSplit Train { get; }
    public TokenSplit Val { get; }

    /// <summary>The tokenizer that produced the tokens (for decoding samples and encoding prompts).</summary>
    public ITokenizer CreateTokenizer() => Learned ?? Tokenizers.Create(Meta.Tokenizer);

    /// <summary>The learned vocabulary (bpeN) read from the dataset's ranks when it was opened; null for bytes and gpt2.</summary>
    public BytePairTokenizer? Learned { get; }

    public static TokenDataset Open(string directory)
    {
        string metaPath = Path.Combine(directory, DatasetMeta.FileName);
        if (!File.Exists(metaPath))
            throw new InvalidInputException($"{directory} is not a prepared dataset (no {DatasetMeta.FileName}); create one with `vkdiff prepare --out {directory}`.");
        DatasetMeta meta = ReadMeta(metaPath);
        // A learned vocabulary is checked against its ranks, which must be there for anyone to read the tokens.
        BytePairTokenizer? learned = Tokenizers.LearnedSize(meta.Tokenizer) is null ? null : BytePairTokenizer.LoadLearned(meta.Tokenizer, directory);
        if (learned is not null) CheckSizes(learned, meta, metaPath);
        int bytesPerToken = DatasetMeta.BytesPerToken(meta.TokenDtype);
        TokenSplit train = OpenSplit(directory, meta, meta.Train, bytesPerToken);
        try
        {
            TokenSplit val = OpenSplit(directory, meta, meta.Val, bytesPerToken);
            return new TokenDataset(directory, meta, train, val, learned);
        }
        catch
        {
            train.Dispose();
            throw;
        }
    }

    private static DatasetMeta ReadMeta(string metaPath)
    {
        DatasetMeta? meta;
        try
        {
            using var file = File.OpenRead(metaPath);
            meta = JsonSerializer.Deserialize<DatasetMeta>(file, DatasetMeta.JsonOptions);
        }
        catch (JsonException error)
        {
            throw new InvalidInputException($"{metaPath} is not valid dataset metadata ({error.Message}); run `vkdiff prepare` again.", error);
        }
        if (meta is null || meta.Train is null || meta.Val is null) throw new InvalidInputException($"{metaPath} is empty or incomplete.");
        if (meta.FormatVersion != DatasetMeta.CurrentFormatVersion)
            throw new InvalidInputException($"{metaPath}: format version {meta.FormatVersion}, this vkdiff reads {DatasetMeta.CurrentFormatVersion}; run `vkdiff prepare` again.");
        if (meta.TokenDtype != DatasetMeta.TokenDtypeFor(meta.PaddedVocabSize))
            throw new InvalidInputException($"{metaPath}: token dtype {meta.TokenDtype} does not match padded vocabulary {meta.PaddedVocabSize}.");
        if (Tokenizers.Names.Contains(meta.Tokenizer)) CheckSizes(Tokenizers.Create(meta.Tokenizer), meta, metaPath);
        return meta;
    }

    private static void CheckSizes(ITokenizer tokenizer, DatasetMeta meta, string metaPath)
    {
        if (tokenizer.VocabSize != meta.VocabSize || tokenizer.PaddedVocabSize != meta.PaddedVocabSize ||
            tokenizer.EndOfDocumentId != meta.EndOfDocumentId || tokenizer.MaskId != meta.MaskId)
            throw new InvalidInputException($"{metaPath}: vocabulary sizes or special ids differ from the {meta.Tokenizer} tokenizer's.");
    }

    private static TokenSplit OpenSplit(string directory, DatasetMeta meta, SplitMeta splitMeta, int bytesPerToken)
    {
        string tokenPath = Path.Combine(directory, splitMeta.TokenFile);
        var split = TokenSplit.Open(tokenPath, Path.Combine(directory, splitMeta.DocumentStartsFile), splitMeta.TokenCount, splitMeta.DocumentCount, bytesPerToken);
        try
        {
            split.CheckDocumentEnds((uint)meta.EndOfDocumentId, tokenPath);
            split.CheckTokenRange((uint)meta.VocabSize, tokenPath);
            return split;
        }
        catch
        {
            split.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Train.Dispose();
        Val.Dispose();
    }
}
