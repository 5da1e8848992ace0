namespace VkDiffusion.Model;

/// <summary>The paper's model presets (PAPER §1) and small ones for tests and CPU runs.</summary>
public static class ModelPresets
{
    private static readonly (string Name, int ModelDim, int Heads, int HeadDim, int Layers, int HiddenDim)[] Table =
    [
        // Small presets for lavapipe runs and tests (f from the paper's formula).
        ("tiny", 64, 4, 16, 2, 128),
        ("mini", 128, 4, 32, 2, 320),
        ("small", 128, 4, 32, 4, 320),
        // The paper's presets.
        ("7M", 128, 4, 32, 3, 320),
        ("14M", 224, 7, 32, 4, 576),
        ("44M", 512, 8, 64, 8, 1344),
        ("57M", 576, 9, 64, 9, 1536),
        ("74M", 640, 10, 64, 10, 1664),
        ("117M", 768, 12, 64, 12, 2048),
        ("140M", 768, 12, 64, 15, 2048),
        ("251M", 1024, 16, 64, 16, 2688),
        ("425M", 1280, 10, 128, 18, 3392),
        ("1266M", 2048, 16, 128, 22, 5440),
    ];

    public static IEnumerable<string> Names => Table.Select(row => row.Name);

    /// <summary>The paper's presets (PAPER §1), smallest first.</summary>
    public static IEnumerable<string> PaperNames => Names.SkipWhile(name => name != "7M");

    public static ModelConfig Get(string name, VocabularySpec vocabulary)
    {
        foreach (var row in Table)
            if (string.Equals(row.Name, name, StringComparison.OrdinalIgnoreCase))
                return new ModelConfig
                {
                    Layers = row.Layers,
                    ModelDim = row.ModelDim,
                    Heads = row.Heads,
                    HeadDim = row.HeadDim,
                    HiddenDim = row.HiddenDim,
                    Vocabulary = vocabulary,
                };
        throw new Runtime.Vulkan.InvalidInputException($"unknown model preset '{name}' (known: {string.Join(", ", Names)})");
    }
}
