namespace VkDiffusion.Trainer.Checkpoints;

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
    /// <summary>A learned vocabulary's ranks (tiktoken's "BASE64 RANK" lines), so the checkpoint decodes without its dataset.</summary>
    public const string TokenizerRanks = "tokenizer_ranks";
    public const string CreatedUtc = "created_utc";
}
