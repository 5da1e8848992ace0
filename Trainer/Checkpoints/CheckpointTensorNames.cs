namespace VkDiffusion.Trainer.Checkpoints;

/// <summary>
/// Llama-style tensor names of VkDiffusion checkpoints (docs/checkpoints.md). The LM head is tied to
/// model.embed_tokens.weight and has no tensor of its own.
/// </summary>
public static class CheckpointTensorNames
{
    /// <summary>[paddedVocab, d]; row id is the embedding of token id (MASK and padding rows included).</summary>
    public const string EmbedTokens = "model.embed_tokens.weight";
    /// <summary>[d]: the final RMSNorm weight.</summary>
    public const string FinalNorm = "model.norm.weight";

    /// <summary>[d]: RMSNorm before attention.</summary>
    public static string InputLayerNorm(int layer) => $"model.layers.{layer}.input_layernorm.weight";
    /// <summary>[3d, d]: rows [Q of all heads; K of all heads; V of all heads], y = W x.</summary>
    public static string QkvProj(int layer) => $"model.layers.{layer}.self_attn.qkv_proj.weight";
    /// <summary>[d, d]: attention output projection.</summary>
    public static string OProj(int layer) => $"model.layers.{layer}.self_attn.o_proj.weight";
    /// <summary>[d]: RMSNorm before the MLP.</summary>
    public static string PostAttentionLayerNorm(int layer) => $"model.layers.{layer}.post_attention_layernorm.weight";
    /// <summary>[2f, d]: rows 0..f-1 the SiLU gate, rows f..2f-1 the up projection.</summary>
    public static string GateUpProj(int layer) => $"model.layers.{layer}.mlp.gate_up_proj.weight";
    /// <summary>[d, f]: MLP output projection.</summary>
    public static string DownProj(int layer) => $"model.layers.{layer}.mlp.down_proj.weight";

    /// <summary>AdamW first moment of a parameter, same shape and dtype (F32).</summary>
    public static string ExpAvg(string parameterName) => "optimizer.exp_avg." + parameterName;
    /// <summary>AdamW second moment of a parameter, same shape and dtype (F32).</summary>
    public static string ExpAvgSq(string parameterName) => "optimizer.exp_avg_sq." + parameterName;

    /// <summary>Every parameter name of a model with `layerCount` layers, in file order.</summary>
    public static IReadOnlyList<string> Parameters(int layerCount)
    {
        var names = new List<string> { EmbedTokens };
        for (int layer = 0; layer < layerCount; layer++)
        {
            names.Add(InputLayerNorm(layer));
            names.Add(QkvProj(layer));
            names.Add(OProj(layer));
            names.Add(PostAttentionLayerNorm(layer));
            names.Add(GateUpProj(layer));
            names.Add(DownProj(layer));
        }
        names.Add(FinalNorm);
        return names;
    }
}

/// <summary>Keys of a checkpoint's string metadata (all values are strings, as the format requires).</summary>
public static class CheckpointMetadataKeys
{
    public const string FormatVersion = "vkdiff_format_version";
    /// <summary>The model config as JSON (d_model, heads, head_dim, layers, ffn, vocab sizes, ...).</summary>
    public const string ModelConfig = "model_config";
    /// <summary>"mdm" or "ar".</summary>
    public const string Objective = "objective";
    public const string Step = "step";
    public const string TokensSeen = "tokens";
    public const string Seed = "seed";
    /// <summary>The full training config as JSON (data, U, E, L, batch, schedule), for exact resume.</summary>
    public const string TrainingConfig = "training_config";
    public const string Tokenizer = "tokenizer";
    public const string CreatedUtc = "created_utc";
}
