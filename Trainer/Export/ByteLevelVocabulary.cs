using VkDiffusion.Model;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Data;

namespace VkDiffusion.Trainer.Export;

/// <summary>What a token is to a tokenizer that reads the exported vocabulary.</summary>
public enum TokenKind
{
    /// <summary>Text: matched by the BPE.</summary>
    Normal,
    /// <summary>End-of-document and MASK: never produced from plain text, only by id (or by parsing special tokens).</summary>
    Control,
    /// <summary>A padding row of the embedding table: no text maps to it.</summary>
    Unused,
}

/// <summary>
/// A vkdiff vocabulary written as byte-level BPE, the form both llama.cpp's `gpt2` tokenizer and Hugging Face's
/// tokenizer.json read: every byte is a printable character (GPT-2's byte-to-unicode table), a token is the string of
/// its bytes' characters, and merges "left right" in rank order rebuild longer tokens. One entry per row of the
/// padded table, so ids, the embedding rows and the logits line up.
/// GPT-2 and learned vocabularies (bpeN): the text tokens of the tiktoken ranks vkdiff encodes with; a merge per
/// multi-byte token, recovered from the ranks (the pair the rank-ordered BPE joins last). Bytes: the 256 bytes as ids 0..255 and no merges, so
/// the BPE leaves every byte its own token.
/// </summary>
public sealed class ByteLevelVocabulary
{
    public const string MaskToken = "<|mask|>";

    private ByteLevelVocabulary(VocabularySpec spec, string[] textTokens, IReadOnlyList<string> merges, string endOfDocumentToken)
    {
        Spec = spec;
        var tokens = new List<string>(textTokens);
        var kinds = Enumerable.Repeat(TokenKind.Normal, textTokens.Length).ToList();
        tokens.Add(endOfDocumentToken);
        kinds.Add(TokenKind.Control);
        tokens.Add(MaskToken);
        kinds.Add(TokenKind.Control);
        for (int id = tokens.Count; id < spec.PaddedSize; id++)
        {
            tokens.Add($"<|pad_{id}|>");
            kinds.Add(TokenKind.Unused);
        }
        Tokens = tokens;
        Kinds = kinds;
        Merges = merges;
    }

    public VocabularySpec Spec { get; }
    /// <summary>One string per id of the padded table.</summary>
    public IReadOnlyList<string> Tokens { get; }
    public IReadOnlyList<TokenKind> Kinds { get; }
    /// <summary>"left right" pairs, highest priority first.</summary>
    public IReadOnlyList<string> Merges { get; }

    /// <param name="learned">The tokenizer of a learned vocabulary (bpeN), which only its checkpoint holds; null for bytes and gpt2.</param>
    public static ByteLevelVocabulary For(VocabularySpec spec, BytePairTokenizer? learned = null) => spec.Name switch
    {
        ByteTokenizer.TokenizerName => new(spec, [.. Enumerable.Range(0, 256).Select(b => ByteCharacters[b].ToString())], [], ByteTokenizer.EndOfDocumentMarker),
        Gpt2Tokenizer.TokenizerName => FromRanks(spec, Gpt2Tokenizer.Shared),
        _ when learned?.Name == spec.Name => FromRanks(spec, learned),
        _ => throw new InvalidInputException($"vocabulary '{spec.Name}' has no byte-level BPE form here: a learned vocabulary is written from the ranks its checkpoint carries"),
    };

    /// <summary>GPT-2's table: bytes that print as themselves keep their code point, the others take 256, 257, ... in byte order.</summary>
    public static readonly IReadOnlyList<char> ByteCharacters = BuildByteCharacters();

    public static string ToByteLevel(ReadOnlySpan<byte> bytes)
    {
        var characters = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) characters[i] = ByteCharacters[bytes[i]];
        return new string(characters);
    }

    private static char[] BuildByteCharacters()
    {
        var characters = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printsAsItself = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            characters[b] = (char)(printsAsItself ? b : next++);
        }
        return characters;
    }

    private static ByteLevelVocabulary FromRanks(VocabularySpec spec, BytePairTokenizer tokenizer)
    {
        IReadOnlyList<byte[]> tokenBytes = tokenizer.TokenBytes;
        var tokens = new string[spec.EndOfDocumentId];
        for (int id = 0; id < tokens.Length; id++) tokens[id] = ToByteLevel(tokenBytes[id]);
        var rankOf = new Dictionary<string, int>(tokens.Length);
        for (int id = 0; id < tokens.Length; id++) rankOf[tokens[id]] = id;
        var merges = new List<string>();
        for (int id = 0; id < tokens.Length; id++)
            if (tokens[id].Length > 1) merges.Add(LastMerge(tokens[id], id, rankOf));
        return new(spec, tokens, merges, BytePairTokenizer.EndOfDocumentMarker);
    }

    /// <summary>
    /// The two parts the rank-ordered BPE joins to make <paramref name="token"/>: start from its single characters and
    /// keep joining the adjacent pair whose join has the lowest rank below <paramref name="rank"/>; two parts remain.
    /// </summary>
    private static string LastMerge(string token, int rank, Dictionary<string, int> rankOf)
    {
        var parts = token.Select(character => character.ToString()).ToList();
        while (parts.Count > 2)
        {
            int bestIndex = -1, bestRank = rank;
            for (int i = 0; i + 1 < parts.Count; i++)
                if (rankOf.TryGetValue(parts[i] + parts[i + 1], out int pairRank) && pairRank < bestRank)
                    (bestIndex, bestRank) = (i, pairRank);
            if (bestIndex < 0) break;
            parts[bestIndex] += parts[bestIndex + 1];
            parts.RemoveAt(bestIndex + 1);
        }
        if (parts.Count != 2) throw new InvalidInputException($"token {rank} of the vocabulary is not the join of two lower-ranked tokens, so no merge list can rebuild it");
        return parts[0] + " " + parts[1];
    }
}
