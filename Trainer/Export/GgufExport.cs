using VkDiffusion.Model;

namespace VkDiffusion.Trainer.Export;

/// <summary>
/// A vkdiff model as a GGUF file llama.cpp runs: AR as its `llama` architecture (causal), MDM as its `llada`
/// architecture (bidirectional attention, no logit shift, the mask token in the vocabulary). Both compute exactly
/// vkdiff's forward: pre-norm RMSNorm blocks, SwiGLU, RoPE over the whole head with vkdiff's theta, 1/sqrt(head_dim)
/// attention, the head tied to the embedding (no `output.weight`: llama.cpp then uses `token_embd.weight`), and
/// logits over every row of the padded table (the vocabulary has a token per row).
/// </summary>
public static class GgufExport
{
    // llama.cpp's token types (llama_token_type): normal text, control (special), unused.
    private const int TokenTypeNormal = 1, TokenTypeControl = 3, TokenTypeUnused = 5;

    // general.file_type (llama_ftype): all f32, mostly f16, mostly bf16.
    private static uint FileType(ExportDType dtype) => dtype switch
    {
        ExportDType.F32 => 0,
        ExportDType.F16 => 1,
        _ => 32,
    };

    private static GgmlType TensorType(ExportDType dtype) => dtype switch
    {
        ExportDType.F32 => GgmlType.F32,
        ExportDType.F16 => GgmlType.F16,
        _ => GgmlType.BF16,
    };

    public static string Architecture(Objective objective) => objective == Objective.Ar ? "llama" : "llada";

    /// <summary>Every tensor is checked against <paramref name="dtype"/> here, so a model the file cannot hold is refused before it is opened.</summary>
    public static GgufWriter Build(ExportSource source, ExportDType dtype, string name)
    {
        ModelConfig config = source.Config;
        string architecture = Architecture(source.Objective);
        var gguf = new GgufWriter();
        gguf.Add("general.architecture", architecture);
        gguf.Add("general.name", name);
        gguf.Add("general.file_type", FileType(dtype));
        gguf.Add($"{architecture}.vocab_size", (uint)config.Vocabulary.PaddedSize);
        gguf.Add($"{architecture}.context_length", (uint)source.ContextLength);
        gguf.Add($"{architecture}.embedding_length", (uint)config.ModelDim);
        gguf.Add($"{architecture}.block_count", (uint)config.Layers);
        gguf.Add($"{architecture}.feed_forward_length", (uint)config.HiddenDim);
        gguf.Add($"{architecture}.attention.head_count", (uint)config.Heads);
        gguf.Add($"{architecture}.attention.head_count_kv", (uint)config.Heads);
        gguf.Add($"{architecture}.attention.layer_norm_rms_epsilon", config.NormEpsilon);
        gguf.Add($"{architecture}.rope.freq_base", config.RopeTheta);
        gguf.Add($"{architecture}.rope.dimension_count", (uint)config.HeadDim);
        if (source.Objective == Objective.Mdm)
        {
            gguf.Add($"{architecture}.attention.causal", false);
            // LLaDA-style: the logits at a masked position predict that position (Dream-style models shift them by one).
            gguf.Add("diffusion.shift_logits", false);
        }
        AddTokenizer(gguf, ByteLevelVocabulary.For(config.Vocabulary, source.LearnedTokenizer));
        foreach (LlamaTensor tensor in LlamaLayout.Split(config, source.Parameters))
        {
            float[] values = tensor.Role == LlamaTensorRole.RotaryProjection ? RotaryLayout.ToInterleaved(tensor.Values, config.Heads, config.HeadDim) : tensor.Values;
            ExportDType stored = tensor.Role == LlamaTensorRole.Norm ? ExportDType.F32 : dtype;
            ExportDTypes.RequireRepresentable(values, stored, tensor.HfName);
            long[] dimensions = [.. tensor.Shape.Reverse().Select(dimension => (long)dimension)];
            gguf.Add(new GgufTensor(tensor.GgufName, TensorType(stored), dimensions, (long)values.Length * ExportDTypes.ElementSize(stored),
                stream => ExportDTypes.Write(stream, values, stored)));
        }
        return gguf;
    }

    private static void AddTokenizer(GgufWriter gguf, ByteLevelVocabulary vocabulary)
    {
        gguf.Add("tokenizer.ggml.model", "gpt2");
        // GPT-2's pre-tokenizer regex; for bytes, with no merges, it only splits text into words the BPE leaves as bytes.
        gguf.Add("tokenizer.ggml.pre", "gpt-2");
        gguf.Add("tokenizer.ggml.tokens", vocabulary.Tokens);
        gguf.Add("tokenizer.ggml.token_type", [.. vocabulary.Kinds.Select(kind => kind switch
        {
            TokenKind.Normal => TokenTypeNormal,
            TokenKind.Control => TokenTypeControl,
            _ => TokenTypeUnused,
        })]);
        gguf.Add("tokenizer.ggml.merges", vocabulary.Merges);
        uint endOfDocument = (uint)vocabulary.Spec.EndOfDocumentId;
        gguf.Add("tokenizer.ggml.bos_token_id", endOfDocument);
        gguf.Add("tokenizer.ggml.eos_token_id", endOfDocument);
        gguf.Add("tokenizer.ggml.padding_token_id", endOfDocument);
        gguf.Add("tokenizer.ggml.mask_token_id", (uint)vocabulary.Spec.MaskId);
        // vkdiff's documents are separated by end-of-document, never prefixed: tokenizing a prompt adds nothing.
        gguf.Add("tokenizer.ggml.add_bos_token", false);
        gguf.Add("tokenizer.ggml.add_eos_token", false);
    }
}
