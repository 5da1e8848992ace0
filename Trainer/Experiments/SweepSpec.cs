using System.Text.Json;
using System.Text.Json.Serialization;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;
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
    /// <summary>Hidden dropout of every run (train's --dropout); the paper's reference scripts use 0.1 (PAPER §1).</summary>
    public float Dropout { get; init; }
    public int EvalMonteCarlo { get; init; } = 8;
    public int EvalWindows { get; init; } = 64;
    /// <summary>Evaluations per run (spread evenly), which bound how finely the best epoch is located.</summary>
    public int EvaluationsPerRun { get; init; } = 20;
    public int Seed { get; init; } = 1234;
    /// <summary>AR token-order ablation runs: extra AR runs with this many orders, at every (preset, U, E).</summary>
    public IReadOnlyList<int> TokenOrders { get; init; } = [];
    /// <summary>Bound on one submission's device time (--max-submit-ms); null: the platform default.</summary>
    [JsonPropertyName("max_submit_ms")]
    public double? MaxSubmitMilliseconds { get; init; }
    /// <summary>Measured training tokens/s per preset on the device the sweep is meant for, for `sweep --plan`'s seconds.</summary>
    public IReadOnlyDictionary<string, double> TokensPerSecond { get; init; } = new Dictionary<string, double>();
    /// <summary>The training seconds the device is lent for: `sweep --plan` refuses a plan that needs more.</summary>
    [JsonPropertyName("time_limit_s")]
    public double? TimeLimitSeconds { get; init; }
    /// <summary>fp32, fp16, bf16 or auto (train's --precision); resolved once per worker for its device.</summary>
    public string Precision { get; init; } = "fp32";

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        WriteIndented = true,
        // Not Environment.NewLine: the same bytes on Windows as on Linux (config.json, checkpoint metadata, reports).
        NewLine = "\n",
        AllowTrailingCommas = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        // A run that never evaluated records its best validation loss as infinity.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        // A misspelt key ("learnig_rate") must not pass silently as the default.
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
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
        spec.Validate(path);
        return spec;
    }

    /// <summary>The ranges of the spec's own keys, named as the spec names them (a sweep has no command-line flags).</summary>
    private void Validate(string path)
    {
        void Require(bool condition, string key, string range, object value)
        {
            if (!condition) throw new InvalidInputException($"{path}: {key} must be {range}, got {value}.");
        }
        Require(UniqueTokens.All(u => u >= 1), "unique_tokens", "positive", string.Join(", ", UniqueTokens));
        Require(Epochs.All(e => e >= 1), "epochs", ">= 1", string.Join(", ", Epochs));
        Require(SequenceLength is >= 2 and <= 2048, "sequence_length", "in [2, 2048]", SequenceLength);
        Require(BatchSize >= 1, "batch_size", ">= 1", BatchSize);
        Require(double.IsFinite(LearningRate) && LearningRate > 0, "learning_rate", "finite and > 0", LearningRate);
        Require(MinLearningRate is null || (MinLearningRate >= 0 && MinLearningRate <= LearningRate), "min_learning_rate", "in [0, learning_rate]", MinLearningRate!);
        Require(Dropout is >= 0 and < 1, "dropout", "in [0, 1)", Dropout);
        Require(EvalMonteCarlo >= 1, "eval_monte_carlo", ">= 1", EvalMonteCarlo);
        Require(EvalWindows >= 1, "eval_windows", ">= 1", EvalWindows);
        Require(EvaluationsPerRun >= 1, "evaluations_per_run", ">= 1", EvaluationsPerRun);
        Require(TokenOrders.All(o => o >= 1), "token_orders", ">= 1", string.Join(", ", TokenOrders));
        Require(MaxSubmitMilliseconds is null || MaxSubmitMilliseconds > 0, "max_submit_ms", "a positive number of milliseconds", MaxSubmitMilliseconds!);
        Require(TokensPerSecond.Values.All(rate => double.IsFinite(rate) && rate > 0), "tokens_per_second", "finite and > 0 for every preset",
            string.Join(", ", TokensPerSecond.Values));
        Require(TimeLimitSeconds is null || TimeLimitSeconds > 0, "time_limit_s", "a positive number of seconds", TimeLimitSeconds!);
        Require(PrecisionFormat.TryParse(Precision, out _), "precision", "fp32, fp16, bf16 or auto", Precision);
    }

    /// <summary>The precision this spec's runs train in on <paramref name="context"/>'s device (exit 7 when it lacks what it needs).</summary>
    public Precision ResolvePrecision(GpuContext context)
    {
        PrecisionFormat.TryParse(Precision, out Precision? requested);
        return PrecisionFormat.Resolve(requested, context);
    }
}
