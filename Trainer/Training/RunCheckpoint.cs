using System.Globalization;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text.Json;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Checkpoints;
using VkDiffusion.Trainer.Data;

namespace VkDiffusion.Trainer.Training;

/// <summary>
/// Where a run stands when its checkpoint was written. IntervalStart and IntervalLossSum are the steps since the last
/// metrics line and the sum of their losses, so a resumed run logs the same train_loss averages (absent in older
/// checkpoints: the interval then restarts at Step). LossScale is fp16's loss-scaler state (null in fp32 and bf16).
/// </summary>
public sealed record RunProgress(long Step, long TokensSeen, double ElapsedSeconds, double BestValidationLoss, double BestEpoch,
    long? IntervalStart = null, double IntervalLossSum = 0, LossScaleState? LossScale = null);

/// <summary>
/// A training checkpoint: weights under Llama-style names, AdamW moments, and in the metadata the model
/// config, the training options and where the run stands (docs/checkpoints.md). Written to a temporary
/// file, flushed, then renamed, so a crash never leaves a half-written checkpoint in place.
/// </summary>
public static class RunCheckpoint
{
    public const string ProgressKey = "run_progress";
    public const string DatasetFingerprintKey = "dataset_fingerprint";
    /// <summary>A JSON object {tensor name: XxHash64 of its bytes as 16 hex digits}, checked on every read.</summary>
    public const string ChecksumsKey = "tensor_xxhash64";

    /// <summary>Writes the checkpoint unless a weight is NaN or infinite: then the previous file stays and the run has diverged (exit 10).</summary>
    /// <param name="learnedRanks">The ranks of the dataset's learned vocabulary (bpeN), null for the fixed ones.</param>
    public static void Save(string path, TransformerSession session, TrainingOptions options, RunProgress progress, string datasetFingerprint,
        string? learnedRanks, bool includeOptimizer = true)
    {
        var entries = new List<SafeTensorEntry>();
        var checksums = new Dictionary<string, string>();
        foreach (var (name, values) in session.ReadParameters())
        {
            checksums[name] = Checksum(values);
            if (!IsFinite(values))
                throw new VkDiffusionException($"{name} holds non-finite weights at step {progress.Step}; {path} was not overwritten. " +
                    $"Lower --lr or raise --warmup: vkdiff train --resume RUN_DIR --lr LR --warmup FRACTION", ExitCodes.Diverged);
            entries.Add(SafeTensorEntry.FromArray(name, values, [.. session.Model.Parameter(name).Spec.Shape.Select(d => (long)d)]));
        }
        if (includeOptimizer)
            foreach (var (name, values) in session.ReadOptimizerState())
            {
                checksums[name] = Checksum(values);
                entries.Add(SafeTensorEntry.FromArray(name, values, values.LongLength));
            }
        Dictionary<string, string> metadata = ModelMetadata(options.Model, options.Objective, checksums, learnedRanks);
        metadata[CheckpointMetadataKeys.Step] = progress.Step.ToString(CultureInfo.InvariantCulture);
        metadata[CheckpointMetadataKeys.TokensSeen] = progress.TokensSeen.ToString(CultureInfo.InvariantCulture);
        metadata[CheckpointMetadataKeys.Seed] = options.Seed.ToString(CultureInfo.InvariantCulture);
        metadata[CheckpointMetadataKeys.TrainingConfig] = options.ToJson();
        metadata[ProgressKey] = JsonSerializer.Serialize(progress, TrainingOptions.Json);
        metadata[DatasetFingerprintKey] = datasetFingerprint;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        CheckpointFile.Write(path, entries, metadata);
    }

    /// <summary>
    /// A weights-only checkpoint of a model that was not trained by a vkdiff run (vkdiff import): no optimizer state,
    /// training config or progress, which eval, score and sample do not need.
    /// </summary>
    public static void SaveWeights(string path, ModelConfig config, Objective objective, IReadOnlyDictionary<string, float[]> parameters, string? learnedRanks)
    {
        var entries = new List<SafeTensorEntry>();
        var checksums = new Dictionary<string, string>();
        foreach (ParameterSpec spec in ModelParameters.Specs(config))
        {
            float[] values = parameters[spec.Name];
            checksums[spec.Name] = Checksum(values);
            entries.Add(SafeTensorEntry.FromArray(spec.Name, values, [.. spec.Shape.Select(d => (long)d)]));
        }
        CheckpointFile.Write(path, entries, ModelMetadata(config, objective, checksums, learnedRanks));
    }

    /// <summary>
    /// The metadata every checkpoint has: what model it holds, the checksums its reader verifies, and a learned
    /// vocabulary's ranks (null for bytes and gpt2), so it decodes without its dataset.
    /// </summary>
    private static Dictionary<string, string> ModelMetadata(ModelConfig config, Objective objective, Dictionary<string, string> checksums, string? learnedRanks)
    {
        var metadata = new Dictionary<string, string>
        {
            [CheckpointMetadataKeys.FormatVersion] = "1",
            [CheckpointMetadataKeys.ModelConfig] = JsonSerializer.Serialize(config, TrainingOptions.Json),
            [CheckpointMetadataKeys.Objective] = objective.ToString().ToLowerInvariant(),
            [CheckpointMetadataKeys.Tokenizer] = config.Vocabulary.Name,
            [CheckpointMetadataKeys.CreatedUtc] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            [ChecksumsKey] = JsonSerializer.Serialize(checksums),
        };
        if (learnedRanks is not null) metadata[CheckpointMetadataKeys.TokenizerRanks] = learnedRanks;
        return metadata;
    }

    /// <summary>A checkpoint opened for reading, with its model config and objective parsed and checked.</summary>
    public sealed class Loaded : IDisposable
    {
        private readonly IReadOnlyDictionary<string, string>? checksums;

        internal Loaded(SafeTensorsFile file, ModelConfig config, Objective objective, TrainingOptions? options, RunProgress? progress)
        {
            checksums = file.Metadata.TryGetValue(ChecksumsKey, out string? checksumsJson)
                ? JsonSerializer.Deserialize<Dictionary<string, string>>(checksumsJson) : null;
            DatasetFingerprint = file.Metadata.GetValueOrDefault(DatasetFingerprintKey);
            File = file;
            Config = config;
            Objective = objective;
            Options = options;
            Progress = progress;
        }

        public SafeTensorsFile File { get; }
        public ModelConfig Config { get; }
        public Objective Objective { get; }
        public TrainingOptions? Options { get; }
        public RunProgress? Progress { get; }
        /// <summary>The fingerprint of the dataset the weights were trained on (null in checkpoints older than the key).</summary>
        public string? DatasetFingerprint { get; }

        public Dictionary<string, float[]> ReadParameters()
        {
            var values = new Dictionary<string, float[]>();
            foreach (ParameterSpec spec in ModelParameters.Specs(Config))
            {
                SafeTensorInfo info = File.Info(spec.Name);
                if (!info.Shape.SequenceEqual(spec.Shape.Select(d => (long)d)))
                    throw new InvalidInputException($"{File.Path}: {spec.Name} has shape [{string.Join(", ", info.Shape)}] but the model config needs [{string.Join(", ", spec.Shape)}].");
                float[] weights = ReadVerified(spec.Name);
                if (!IsFinite(weights))
                    throw new InvalidInputException($"{File.Path}: {spec.Name} holds NaN or infinite weights; the model diverged before this checkpoint was written. " +
                        "Use an earlier checkpoint or train again with a lower --lr.");
                values[spec.Name] = weights;
            }
            return values;
        }

        public Dictionary<string, float[]> ReadOptimizerState()
        {
            var state = new Dictionary<string, float[]>();
            foreach (ParameterSpec spec in ModelParameters.Specs(Config))
                foreach (string name in new[] { ModelParameters.FirstMoment(spec.Name), ModelParameters.SecondMoment(spec.Name) })
                    state[name] = ReadVerified(name);
            return state;
        }

        /// <summary>A tensor whose bytes match the checksum written with them (checkpoints older than checksums are read as they are).</summary>
        private float[] ReadVerified(string name)
        {
            float[] values = File.Read<float>(name);
            if (checksums is null) return values;
            if (!checksums.TryGetValue(name, out string? expected) || expected != Checksum(values))
                throw new InvalidInputException($"{File.Path}: tensor {name} does not match its checksum: the file is corrupt (a damaged disk or copy); " +
                    "use another checkpoint, e.g. best.safetensors, or train again.");
            return values;
        }

        /// <summary>The tokenizer of the model's vocabulary; a learned one (bpeN) from the ranks the checkpoint carries.</summary>
        public ITokenizer CreateTokenizer() => LearnedTokenizer() ?? Tokenizers.Create(Config.Vocabulary.Name);

        /// <summary>A learned vocabulary's tokenizer (bpeN) from the ranks the checkpoint carries; null for bytes and gpt2.</summary>
        public BytePairTokenizer? LearnedTokenizer()
        {
            string name = Config.Vocabulary.Name;
            if (Tokenizers.LearnedSize(name) is null) return null;
            if (!File.Metadata.TryGetValue(CheckpointMetadataKeys.TokenizerRanks, out string? ranks))
                throw new InvalidInputException($"{File.Path} holds a {name} model but not its vocabulary's ranks; it was not written by a vkdiff run.");
            return BytePairTokenizer.FromRanks(name, ranks, $"{File.Path} ({CheckpointMetadataKeys.TokenizerRanks})");
        }

        public void Dispose() => File.Dispose();
    }

    private static string Checksum(float[] values) => Convert.ToHexStringLower(XxHash64.Hash(MemoryMarshal.AsBytes(values.AsSpan())));

    private static bool IsFinite(ReadOnlySpan<float> values)
    {
        foreach (float value in values)
            if (!float.IsFinite(value)) return false;
        return true;
    }

    public static Loaded Open(string path)
    {
        if (!System.IO.File.Exists(path)) throw new InvalidInputException($"checkpoint {path} does not exist.");
        SafeTensorsFile file = CheckpointFile.Open(path);
        try
        {
            if (!file.Metadata.TryGetValue(CheckpointMetadataKeys.ModelConfig, out string? configJson))
                throw new InvalidInputException($"{path} has no model config in its metadata: not a vkdiff checkpoint.");
            ModelConfig config = JsonSerializer.Deserialize<ModelConfig>(configJson, TrainingOptions.Json)
                ?? throw new InvalidInputException($"{path}: empty model config.");
            config.Validate();
            Objective objective = file.Metadata.GetValueOrDefault(CheckpointMetadataKeys.Objective) switch
            {
                "ar" => Objective.Ar,
                "mdm" => Objective.Mdm,
                var other => throw new InvalidInputException($"{path}: unknown objective '{other}' in the metadata."),
            };
            TrainingOptions? options = file.Metadata.TryGetValue(CheckpointMetadataKeys.TrainingConfig, out string? optionsJson)
                ? TrainingOptions.FromJson(optionsJson, path) : null;
            RunProgress? progress = file.Metadata.TryGetValue(ProgressKey, out string? progressJson)
                ? JsonSerializer.Deserialize<RunProgress>(progressJson, TrainingOptions.Json) : null;
            return new Loaded(file, config, objective, options, progress);
        }
        catch (JsonException error)
        {
            file.Dispose();
            throw new InvalidInputException($"{path}: corrupt metadata ({error.Message}).", error);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }
}
