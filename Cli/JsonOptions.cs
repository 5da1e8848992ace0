using System.Text.Json;
using System.Text.Json.Serialization;

namespace VkDiffusion.Cli;

internal static class JsonOptions
{
    /// <summary>A diverged model's loss is NaN or infinity: the report says so rather than failing to be written.</summary>
    public static readonly JsonSerializerOptions Indented = new()
    {
        WriteIndented = true,
        // Not Environment.NewLine: the same bytes on Windows as on Linux (config.json, checkpoint metadata, reports).
        NewLine = "\n",
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>One record per line (JSON Lines), non-finite numbers as "NaN", "Infinity", "-Infinity".</summary>
    public static readonly JsonSerializerOptions Lines = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>The benchmark reports (`bench kernels --json`, `bench step --json`): camelCase names, schemas in docs/benchmarks.md.</summary>
    public static readonly JsonSerializerOptions Report = new(Indented) { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
}
