using System.Text.Json.Serialization;

namespace VkDiffusion.Model;

/// <summary>
/// Token ids a model needs to know: text ids are 0..MaskId-1 (end-of-document among them), then MASK,
/// then padding rows up to the table size.
/// </summary>
public sealed record VocabularySpec(string Name, int EndOfDocumentId, int MaskId, int PaddedSize)
{
    /// <summary>256 byte ids, then EOD and MASK; the table padded to a multiple of 64.</summary>
    public static readonly VocabularySpec Bytes = new("bytes", 256, 257, 320);

    /// <summary>GPT-2 BPE: 50257 ids with EOD 50256; MASK 50257; the table padded to 50304 (PAPER §2).</summary>
    public static readonly VocabularySpec Gpt2 = new("gpt2", 50256, 50257, 50304);

    /// <summary>
    /// The text vocabulary: ids a tokenizer emits, end-of-document included (257 for bytes, 50257 for GPT-2); MASK is
    /// the next id. Written into model_config for readers of checkpoints; recomputed, not read, on load.
    /// </summary>
    public int Size => MaskId;

    public static VocabularySpec ByName(string name) => name switch
    {
        "bytes" => Bytes,
        "gpt2" => Gpt2,
        _ when LearnedBpeSize(name) is int size => LearnedBpe(size),
        _ => throw new Runtime.Vulkan.InvalidInputException($"unknown vocabulary '{name}' (known: bytes, gpt2, bpeN)"),
    };

    /// <summary>
    /// A byte-level BPE of N text ids learned from the corpus (`vkdiff prepare --tokenizer bpeN`), laid out as GPT-2's:
    /// N - 1 ranked tokens (the 256 bytes among them), EOD N - 1, MASK N; the table padded to a multiple of 64.
    /// </summary>
    public static VocabularySpec LearnedBpe(int size) => new($"bpe{size}", size - 1, size, (size + 1 + 63) / 64 * 64);

    /// <summary>The fewest text ids of a learned BPE: the 256 bytes, one merge and EOD.</summary>
    public const int MinLearnedBpeSize = 258;

    /// <summary>The most text ids of a learned BPE: its ids are stored as uint16, MASK among them.</summary>
    public const int MaxLearnedBpeSize = 65535;

    /// <summary>N of a `bpeN` name (<see cref="MinLearnedBpeSize"/> to <see cref="MaxLearnedBpeSize"/>), or null for any other name.</summary>
    public static int? LearnedBpeSize(string name) =>
        name.StartsWith("bpe", StringComparison.Ordinal) && int.TryParse(name.AsSpan(3), System.Globalization.NumberStyles.None, null, out int size)
        && size is >= MinLearnedBpeSize and <= MaxLearnedBpeSize ? size : null;
}

/// <summary>The transformer's shape (PAPER §1). Pre-norm decoder, RMSNorm, SwiGLU, RoPE, tied LM head, no biases.</summary>
public sealed record ModelConfig
{
    public required int Layers { get; init; }
    public required int ModelDim { get; init; }
    public required int Heads { get; init; }
    public required int HeadDim { get; init; }
    public required int HiddenDim { get; init; }
    public required VocabularySpec Vocabulary { get; init; }
    public float RopeTheta { get; init; } = 10000f;
    public float NormEpsilon { get; init; } = 1e-5f;
    public float InitStd { get; init; } = 0.02f;
    public float Dropout { get; init; }

    /// <summary>f = floor((8d/3)/64)*64, the paper's SwiGLU width.</summary>
    public static int PaperHiddenDim(int modelDim) => (int)Math.Floor(8.0 * modelDim / 3 / 64) * 64;

    /// <summary>
    /// The paper's parameter count N used for compute C = 6ND: 4Ld² + 3Ldf + 6Ld + Vd, with V the text
    /// vocabulary (50257 for GPT-2, as in the paper; 257 for bytes).
    /// </summary>
    [JsonIgnore]
    public double FlopsParameterCount =>
        4.0 * Layers * ModelDim * ModelDim + 3.0 * Layers * ModelDim * HiddenDim + 6.0 * Layers * ModelDim + (double)Vocabulary.Size * ModelDim;

    /// <summary>The parameters this model actually has (embedding table included once: the head is tied).</summary>
    [JsonIgnore]
    public long ParameterCount =>
        (long)Vocabulary.PaddedSize * ModelDim + ModelDim
        + Layers * (2L * ModelDim + 3L * ModelDim * ModelDim + (long)ModelDim * ModelDim + 2L * HiddenDim * ModelDim + (long)ModelDim * HiddenDim);

    /// <summary>Throws <see cref="Runtime.Vulkan.InvalidInputException"/> for shapes no kernel supports.</summary>
    public void Validate()
    {
        static void Require(bool condition, string message)
        {
            if (!condition) throw new Runtime.Vulkan.InvalidInputException($"invalid model config: {message}");
        }
        Require(Layers >= 1, $"layers must be >= 1, got {Layers}");
        Require(Heads >= 1 && HeadDim >= 2, $"heads {Heads} and head dim {HeadDim} must be positive");
        Require(Heads * HeadDim == ModelDim, $"heads x head dim ({Heads}x{HeadDim}) must equal d_model ({ModelDim})");
        Require(HeadDim is 16 or 32 or 64 or 128, $"head dim must be 16, 32, 64 or 128 (the attention kernels' variants), got {HeadDim}");
        Require(HiddenDim >= 1, $"hidden dim must be positive, got {HiddenDim}");
        Require(Dropout is >= 0 and < 1, $"dropout must be in [0, 1), got {Dropout}");
        Require(Vocabulary.PaddedSize > Vocabulary.MaskId, "the padded vocabulary must hold the mask id");
    }
}
