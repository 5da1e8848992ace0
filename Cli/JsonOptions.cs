using System.Text.Json;

namespace VkDiffusion.Cli;

internal static class JsonOptions
{
    public static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The benchmark reports (`bench kernels --json`, `bench step --json`): camelCase names, schemas in docs/benchmarks.md.</summary>
    public static readonly JsonSerializerOptions Report = new(Indented) { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
}
