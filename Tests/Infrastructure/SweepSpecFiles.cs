namespace VkDiffusion.Tests.Infrastructure;

/// <summary>Sweep spec files for tests of one key: the smallest valid spec (MDM and AR tiny, U = 1000, one epoch) plus that key.</summary>
public static class SweepSpecFiles
{
    /// <param name="extraKeys">JSON members appended to the spec, each with its leading comma (", \"dropout\": 0.1"), or "".</param>
    public static string Write(string directory, string extraKeys)
    {
        string path = Path.Combine(directory, "spec.json");
        File.WriteAllText(path, $$"""
            { "data": "data", "objectives": ["mdm", "ar"], "presets": ["tiny"], "unique_tokens": [1000], "epochs": [1]{{extraKeys}} }
            """);
        return path;
    }
}
