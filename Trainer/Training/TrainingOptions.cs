using System.Text.Json;
using System.Text.Json.Serialization;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Training;

/// <summary>Everything that defines a training run; saved as RUN_DIR/config.json so the run can be reproduced and resumed.</summary>
public sealed record TrainingOptions
{
    public Objective Objective { get; init; } = Objective.Mdm;
    /// <summary>A preset name from <see cref="ModelPresets"/>, or "custom" with the explicit dimensions in <see cref="Model"/>.</summary>
    public string Preset { get; init; } = "tiny";
    public required ModelConfig Model { get; init; }
    public required string DataDirectory { get; init; }
    public long UniqueTokens { get; init; }
    public int Epochs { get; init; } = 1;
    public int SequenceLength { get; init; } = 256;
    public int BatchSize { get; init; } = 8;
    public int GradientAccumulation { get; init; } = 1;
    public double LearningRate { get; init; } = 2e-4;
    public double MinLearningRate { get; init; } = 2e-5;
    /// <summary>Warmup as a fraction of the run's steps (PAPER §4: 1% of samples).</summary>
    public double WarmupFraction { get; init; } = 0.01;
    public double WeightDecay { get; init; } = 0.1;
    public double ClipNorm { get; init; } = 1.0;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.95;
    public double AdamEpsilon { get; init; } = 1e-8;
    /// <summary>Evaluate every this many steps (0: only at epoch ends and the end).</summary>
    public int EvalEvery { get; init; }
    /// <summary>Evaluate at most this many validation windows.</summary>
    public int EvalWindows { get; init; } = 64;
    /// <summary>Monte Carlo samples per validation sequence for MDM.</summary>
    public int EvalMonteCarlo { get; init; } = 8;
    /// <summary>Write the last checkpoint every this many steps (0: at evaluations and the end).</summary>
    public int SaveEvery { get; init; }
    public int Seed { get; init; } = 1234;
    public string? Device { get; init; }
    /// <summary>AR token-order ablation (PAPER §7): train on this many fixed orderings (1 = left to right).</summary>
    public int TokenOrders { get; init; } = 1;
    /// <summary>Log a metrics line every this many steps.</summary>
    public int LogEvery { get; init; } = 10;
    /// <summary>Bound on the device time of one queue submission (--max-submit-ms); null: the default for the OS and device
    /// (<see cref="SubmissionPlan.DefaultMaxMilliseconds"/>).</summary>
    [JsonPropertyName("max_submit_ms")]
    public double? MaxSubmitMilliseconds { get; init; }
    /// <summary>Write the next step's inputs while the device runs the current step; off only to compare against (results are identical).</summary>
    public bool OverlapHostWork { get; init; } = true;
    /// <summary>Submit step N+1 before reading step N's loss where nothing on the host needs step N first (docs/architecture.md, "Submissions");
    /// off only to compare against (results are identical).</summary>
    public bool SubmitAhead { get; init; } = true;
    /// <summary>The matmuls' number format (--precision; auto is resolved for the device before the run starts and recorded).</summary>
    public Precision Precision { get; init; } = Precision.Fp32;
    /// <summary>fp16: the first loss scale, a power of two (torch's GradScaler starts at 2^16).</summary>
    public double InitialLossScale { get; init; } = DefaultInitialLossScale;
    /// <summary>fp16: clean steps in a row after which the loss scale doubles.</summary>
    public int LossScaleGrowthInterval { get; init; } = DefaultLossScaleGrowthInterval;
    public const double DefaultInitialLossScale = LossScaleState.DefaultInitialScale;
    public const int DefaultLossScaleGrowthInterval = LossScaleState.DefaultGrowthInterval;

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        // Not Environment.NewLine: the same bytes on Windows as on Linux (config.json, checkpoint metadata, reports).
        NewLine = "\n",
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        // A run stopped before its first evaluation records its best validation loss as infinity.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        // A misspelt key in a config ("learnig_rate") must not pass silently as the default.
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static TrainingOptions FromJson(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<TrainingOptions>(json, Json) ?? throw new InvalidInputException($"{source} is empty");
        }
        catch (JsonException error)
        {
            throw new InvalidInputException($"{source} is not a valid training config: {error.Message}", error);
        }
    }

    /// <summary>Rejects impossible settings with a message that names the flag.</summary>
    public void Validate()
    {
        Model.Validate();
        static void Require(bool condition, string message)
        {
            if (!condition) throw new InvalidInputException(message);
        }
        Require(Epochs >= 1, $"--epochs must be >= 1, got {Epochs}");
        Require(SequenceLength is >= 2 and <= 2048, $"--seq-len must be in [2, 2048], got {SequenceLength}");
        Require(BatchSize >= 1, $"--batch must be >= 1, got {BatchSize}");
        Require(GradientAccumulation >= 1, $"--grad-accum must be >= 1, got {GradientAccumulation}");
        Require(double.IsFinite(LearningRate) && LearningRate > 0 && MinLearningRate >= 0 && MinLearningRate <= LearningRate,
            $"need 0 <= --min-lr ({MinLearningRate}) <= --lr ({LearningRate}), --lr > 0 and finite");
        Require(WarmupFraction is >= 0 and < 1, $"--warmup must be a fraction in [0, 1), got {WarmupFraction}");
        Require(double.IsFinite(WeightDecay) && WeightDecay >= 0, $"--weight-decay must be >= 0, got {WeightDecay}");
        Require(double.IsFinite(ClipNorm) && ClipNorm >= 0, $"--clip must be >= 0 (0 disables clipping), got {ClipNorm}");
        Require(EvalEvery >= 0, $"--eval-every must be >= 1 (or 0 for the default), got {EvalEvery}");
        Require(EvalWindows >= 1, $"--eval-batches must be >= 1, got {EvalWindows / Math.Max(1, BatchSize)} ({EvalWindows} validation windows)");
        Require(SaveEvery >= 0, $"--save-every must be >= 1 (or 0: at evaluations), got {SaveEvery}");
        Require(LogEvery >= 1, $"log_every must be >= 1, got {LogEvery}");
        Require(EvalMonteCarlo >= 1, $"--eval-mc must be >= 1, got {EvalMonteCarlo}");
        Require(TokenOrders >= 1, $"--orders must be >= 1, got {TokenOrders}");
        Require(TokenOrders == 1 || Objective == Objective.Ar, "--orders applies to --objective ar only");
        Require(MaxSubmitMilliseconds is null or > 0, $"--max-submit-ms (max_submit_ms) must be > 0, got {MaxSubmitMilliseconds}");
        Require(InitialLossScale is >= 1 and <= 1.8446744073709552E+19 && Math.ScaleB(1.0, (int)Math.Round(Math.Log2(InitialLossScale))) == InitialLossScale,
            $"initial_loss_scale must be a power of two in [1, 2^64], got {InitialLossScale}");
        Require(LossScaleGrowthInterval >= 1, $"loss_scale_growth_interval must be >= 1, got {LossScaleGrowthInterval}");
    }
}
