using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Data;

/// <summary>
/// Byte-level BPE over tiktoken ranks: id r is the token whose bytes rank r, text is split by GPT-2's pre-tokenizer
/// and each piece is merged by lowest rank. The ids after the ranked tokens are end-of-document, then MASK, then
/// padding. GPT-2 (<see cref="Gpt2Tokenizer"/>) is one such vocabulary; `vkdiff prepare --tokenizer bpeN` learns
/// another from the corpus (<see cref="BytePairLearner"/>) and keeps its ranks beside the tokens.
/// Text is encoded as ordinary text: a literal end-of-document marker in a document becomes ordinary tokens, never
/// the end-of-document id, so document boundaries come only from the corpus structure.
/// </summary>
public sealed class BytePairTokenizer : ITokenizer
{
    /// <summary>The GPT-2 (tiktoken r50k_base) pre-tokenization pattern, which learned vocabularies share.</summary>
    public const string PreTokenizerPattern = @"'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    public const string EndOfDocumentMarker = "<|endoftext|>";

    /// <summary>The ranks file `prepare --tokenizer bpeN` writes into the dataset directory (tiktoken's format).</summary>
    public const string RanksFileName = "tokenizer.tiktoken";

    internal static readonly Regex PreTokenizer = new(PreTokenizerPattern, RegexOptions.Compiled);

    private readonly TiktokenTokenizer bpe;
    private readonly byte[][] tokenBytes;

    /// <param name="name">gpt2, or bpeN for a learned vocabulary of N text ids.</param>
    /// <param name="tokenBytes">The bytes of every ranked token, rank order; every single byte must be among them.</param>
    public BytePairTokenizer(string name, IReadOnlyList<byte[]> tokenBytes)
    {
        Name = name;
        this.tokenBytes = [.. tokenBytes];
        VocabSize = tokenBytes.Count + 1;
        PaddedVocabSize = Tokenizers.PaddedSize(VocabSize);
        using var ranks = new MemoryStream(Encoding.ASCII.GetBytes(RanksText()));
        // No special tokens: the pre-tokenizer and the BPE both see the end-of-document marker as plain text.
        var preTokenizer = new RegexPreTokenizer(PreTokenizer, specialTokens: null);
        bpe = TiktokenTokenizer.Create(ranks, preTokenizer, normalizer: null, specialTokens: null);
    }

    public string Name { get; }
    public int VocabSize { get; }
    public int EndOfDocumentId => VocabSize - 1;
    public int MaskId => VocabSize;
    public int PaddedVocabSize { get; }

    /// <summary>The bytes of every text token but end-of-document: what an export writes as the vocabulary.</summary>
    public IReadOnlyList<byte[]> TokenBytes => tokenBytes;

    public int[] Encode(string text) => text.Length == 0 ? [] : [.. bpe.EncodeToIds(text)];

    public string Decode(ReadOnlySpan<int> ids)
    {
        // Runs of BPE ids are decoded together so multi-token UTF-8 sequences join up; the BPE decoder turns
        // what stays incomplete into U+FFFD.
        var text = new StringBuilder();
        var run = new List<int>();
        foreach (int id in ids)
        {
            Tokenizers.CheckRange(this, id);
            if (id < EndOfDocumentId)
            {
                run.Add(id);
                continue;
            }
            FlushRun(run, text);
            text.Append(id == EndOfDocumentId ? EndOfDocumentMarker : id == MaskId ? Tokenizers.MaskMarker : Tokenizers.PaddingMarker(id));
        }
        FlushRun(run, text);
        return text.ToString();
    }

    private void FlushRun(List<int> run, StringBuilder text)
    {
        if (run.Count == 0) return;
        text.Append(bpe.Decode(run));
        run.Clear();
    }

    /// <summary>tiktoken's ranks format: one "BASE64 RANK" line per token.</summary>
    public string RanksText()
    {
        var text = new StringBuilder();
        for (int rank = 0; rank < tokenBytes.Length; rank++)
            text.Append(Convert.ToBase64String(tokenBytes[rank])).Append(' ').Append(rank.ToString(CultureInfo.InvariantCulture)).Append('\n');
        return text.ToString();
    }

    /// <summary>
    /// Reads ranks in tiktoken's format ("BASE64 RANK" lines, or bare BASE64 lines whose rank is the line's place after a
    /// "Capacity: N" header, as Microsoft.ML.Tokenizers.Data ships GPT-2's). <paramref name="source"/> names the text in errors.
    /// </summary>
    public static byte[][] ParseRanks(string text, string source)
    {
        var tokens = new List<byte[]>();
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (line.StartsWith("Capacity:", StringComparison.Ordinal)) continue;
            string[] fields = line.Split(' ');
            byte[]? bytes = fields.Length is 1 or 2 ? TryFromBase64(fields[0]) : null;
            bool rankInOrder = fields.Length == 1 || (int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out int rank) && rank == tokens.Count);
            if (bytes is null || bytes.Length == 0 || !rankInOrder)
                throw new InvalidInputException($"{source}: line {tokens.Count + 1} is not \"BASE64 {tokens.Count}\"; the tokenizer's ranks are damaged, prepare the dataset again.");
            tokens.Add(bytes);
        }
        return [.. tokens];
    }

    private static byte[]? TryFromBase64(string text)
    {
        var bytes = new byte[text.Length];
        return Convert.TryFromBase64String(text, bytes, out int written) ? bytes[..written] : null;
    }

    /// <summary>The learned vocabulary a dataset directory holds in <see cref="RanksFileName"/>, as `prepare --tokenizer bpeN` wrote it.</summary>
    public static BytePairTokenizer LoadLearned(string name, string directory)
    {
        string path = Path.Combine(directory, RanksFileName);
        if (!File.Exists(path))
            throw new InvalidInputException($"{directory} was tokenized with the learned vocabulary {name} but holds no {RanksFileName}; prepare it again.");
        return FromRanks(name, File.ReadAllText(path), path);
    }

    /// <summary>A learned vocabulary from its ranks text; the name's N must be the ranks' token count plus end-of-document.</summary>
    public static BytePairTokenizer FromRanks(string name, string ranksText, string source) => Learned(name, ParseRanks(ranksText, source), source);

    /// <summary>A learned vocabulary from its ranked tokens, checked: N - 1 distinct tokens, the 256 bytes among them.</summary>
    public static BytePairTokenizer Learned(string name, byte[][] tokens, string source)
    {
        if (Tokenizers.LearnedSize(name) != tokens.Length + 1)
            throw new InvalidInputException($"{source}: {tokens.Length} ranked tokens make a vocabulary of {tokens.Length + 1} ids, not the {name} it is named for.");
        if (tokens.Select(Convert.ToBase64String).Distinct().Count() != tokens.Length)
            throw new InvalidInputException($"{source}: a token is ranked twice; the tokenizer's ranks are damaged, prepare the dataset again.");
        var singles = new HashSet<byte>(tokens.Where(token => token.Length == 1).Select(token => token[0]));
        if (singles.Count != 256)
            throw new InvalidInputException($"{source}: only {singles.Count} of the 256 bytes are tokens, so some text could not be encoded; prepare the dataset again.");
        return new BytePairTokenizer(name, tokens);
    }
}
