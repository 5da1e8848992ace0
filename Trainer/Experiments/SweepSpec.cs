using System.Text.Json;
using System.Text.Json.Serialization;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Experiments;

/// <summary>
/// A sweep: every combination of objectives x presets x unique-token budgets x epoch counts, with shared
/// training settings. Read from JSON (snake_case keys, e.g. "unique_tokens": [100000, 300000]).
/// </summary>
public sealed record SweepSpec
{
    public required string Data { get; init; }
    public required IReadOnlyList<Objective> Objectives { get; init; }
    public required IReadOnlyList<string> Presets { get; init; }
    public required IReadOnlyList<long> UniqueTokens { get; init; }
    public required IReadOnlyList<int> Epochs { get; init; }
    public int SequenceLength { get; init; } = 128;
    public int BatchSize { get; init; } = 16;
    public double LearningRate { get; init; } = 2e-3;
    public double? MinLearningRate { get; init; }
    public int EvalMonteCarlo { get; init; } = 8;
    public int EvalWindows { get; init; } = 64;
    /// <summary>Evaluations per run (spread evenly), which bound how finely the best epoch is located.</summary>
    public int EvaluationsPerRun { get; init; } = 20;
    public int Seed { get; init; } = 1234;
    /// <summary>AR token-order ablation runs: extra AR runs with this many orders, at every (preset, U, E).</summary>
    public IReadOnlyList<int> TokenOrders { get; init; } = [];

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        WriteIndented = true,
        AllowTrailingCommas = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        // A run that never evaluated records its best validation loss as infinity.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static SweepSpec Load(string path)
    {
        if (!File.Exists(path)) throw new InvalidInputException($"sweep spec {path} does not exist.");
        SweepSpec spec;
        try
        {
            spec = JsonSerializer.Deserialize<SweepSpec>(File.ReadAllText(path), Json) ?? throw new InvalidInputException($"{path} is empty.");
        }
        catch (JsonException error)
        {
            throw new InvalidInputException($"{path} is not a valid sweep spec: {error.Message}", error);
        }
        if (spec.Objectives.Count == 0 || spec.Presets.Count == 0 || spec.UniqueTokens.Count == 0 || spec.Epochs.Count == 0)
            throw new InvalidInputException($"{path}: objectives, presets, unique_tokens and epochs each need at least one value.");
        return spec;
    }
}
