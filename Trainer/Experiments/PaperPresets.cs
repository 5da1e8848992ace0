namespace VkDiffusion.Trainer.Experiments;

/// <summary>One model size of the paper's sweep.</summary>
public sealed record PaperPreset(string Name, int DModel, int Heads, int HeadDim, int Layers, int Ffn)
{
    /// <summary>The paper's parameter count for FLOPs (GPT-2 vocabulary embedding included).</summary>
    public long Params => PaperPresets.ParamCount(Layers, DModel, Ffn);
}

/// <summary>
/// The paper's model presets (PAPER.md §1) and its parameter-count formula, as the scaling-law experiments use
/// them. Model/ owns the runnable model configuration; this list exists so the experiments can name sizes
/// without depending on it, and can be replaced by reading Model's presets once they exist.
/// </summary>
public static class PaperPresets
{
    /// <summary>P = 4·L·d² + 3·L·d·f + 6·L·d + 50257·d: attention, SwiGLU, norms, and the (tied) GPT-2 embedding.</summary>
    public static long ParamCount(int layers, int dModel, int ffn) =>
        4L * layers * dModel * dModel + 3L * layers * dModel * ffn + 6L * layers * dModel + 50257L * dModel;

    public static IReadOnlyList<PaperPreset> All { get; } =
    [
        new("7M", 128, 4, 32, 3, 320),
        new("14M", 224, 7, 32, 4, 576),
        new("44M", 512, 8, 64, 8, 1344),
        new("57M", 576, 9, 64, 9, 1536),
        new("74M", 640, 10, 64, 10, 1664),
        new("117M", 768, 12, 64, 12, 2048),
        new("140M", 768, 12, 64, 15, 2048),
        new("251M", 1024, 16, 64, 16, 2688),
        new("425M", 1280, 10, 128, 18, 3392),
        new("1266M", 2048, 16, 128, 22, 5440),
    ];
}
