namespace VkDiffusion.Trainer.Data;

/// <summary>
/// Text to token ids and back. Id layout (PAPER §2): the text ids 0..VocabSize-1 with EndOfDocumentId among
/// them, then MaskId = VocabSize, then padding rows up to PaddedVocabSize (a multiple of 64) so the
/// embedding table and the logits have GPU-friendly sizes.
/// </summary>
public interface ITokenizer
{
    /// <summary>The name used in meta.json and on the command line (`gpt2`, `bytes`).</summary>
    string Name { get; }

    /// <summary>Logical vocabulary: every id Encode can produce plus the end-of-document id.</summary>
    int VocabSize { get; }

    int EndOfDocumentId { get; }

    /// <summary>The masked-diffusion MASK token; equal to VocabSize.</summary>
    int MaskId { get; }

    /// <summary>Rows of the embedding table and logits: VocabSize + 1 (MASK) rounded up to a multiple of 64.</summary>
    int PaddedVocabSize { get; }

    /// <summary>Token ids of a document's text; never produces EndOfDocumentId or MaskId.</summary>
    int[] Encode(string text);

    /// <summary>
    /// Text of any id sequence, model samples included: end-of-document, MASK and padding ids are rendered as
    /// visible markers and incomplete UTF-8 as U+FFFD; it never throws for ids in [0, PaddedVocabSize).
    /// </summary>
    string Decode(ReadOnlySpan<int> ids);
}

/// <summary>The tokenizers `vkdiff prepare --tokenizer` accepts.</summary>
public static class Tokenizers
{
    public static readonly IReadOnlyList<string> Names = [ByteTokenizer.TokenizerName, Gpt2Tokenizer.TokenizerName];

    /// <summary>What --tokenizer takes, for help and errors.</summary>
    public const string Choices = "bytes, gpt2 or bpeN (a byte-level BPE of N ids learned from the corpus, N in 258..65535)";

    /// <summary>N of a learned vocabulary's name `bpeN`, or null for any other name.</summary>
    public static int? LearnedSize(string name) => VkDiffusion.Model.VocabularySpec.LearnedBpeSize(name);

    /// <summary>Whether --tokenizer NAME names a tokenizer `vkdiff prepare` can make.</summary>
    public static bool IsKnown(string name) => Names.Contains(name) || LearnedSize(name) is not null;

    /// <summary>Markers Decode writes for ids that are not text.</summary>
    public const string MaskMarker = "[MASK]";

    public static string PaddingMarker(int id) => $"[PAD {id}]";

    /// <summary>
    /// A fixed tokenizer by name. A learned one (bpeN) lives with its data: <see cref="BytePairTokenizer.LoadLearned"/>
    /// reads it from a dataset directory, <c>RunCheckpoint.Loaded.CreateTokenizer</c> from a checkpoint.
    /// </summary>
    public static ITokenizer Create(string name) => name.ToLowerInvariant() switch
    {
        ByteTokenizer.TokenizerName => new ByteTokenizer(),
        Gpt2Tokenizer.TokenizerName => Gpt2Tokenizer.Shared,
        _ when LearnedSize(name) is not null => throw new VkDiffusion.Runtime.Vulkan.InvalidInputException(
            $"The learned vocabulary {name} is read from its dataset or checkpoint, which holds its ranks."),
        _ => throw new VkDiffusion.Runtime.Vulkan.InvalidInputException($"Unknown tokenizer '{name}'; choose {Choices}."),
    };

    /// <summary>VocabSize + 1 (for MASK) rounded up to a multiple of 64.</summary>
    public static int PaddedSize(int vocabSize) => (vocabSize + 1 + 63) / 64 * 64;

    /// <summary>Throws for an id outside the embedding table: such an id can only come from a caller bug.</summary>
    internal static void CheckRange(ITokenizer tokenizer, int id)
    {
        if ((uint)id >= (uint)tokenizer.PaddedVocabSize)
            throw new ArgumentOutOfRangeException(nameof(id), id, $"token id outside [0, {tokenizer.PaddedVocabSize}) of the {tokenizer.Name} tokenizer");
    }
}
