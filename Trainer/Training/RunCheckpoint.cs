using System.Globalization;
using System.Text.Json;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Checkpoints;

namespace VkDiffusion.Trainer.Training;

/// <summary>Where a run stands when its checkpoint was written.</summary>
public sealed record RunProgress(long Step, long TokensSeen, double ElapsedSeconds, double BestValidationLoss, double BestEpoch);

/// <summary>
/// A training checkpoint: weights under Llama-style names, AdamW moments, and in the metadata the model
/// config, the training options and where the run stands (docs/checkpoints.md). Written to a temporary
/// file, flushed, then renamed, so a crash never leaves a half-written checkpoint in place.
/// </summary>
public static class RunCheckpoint
{
    public const string ProgressKey = "run_progress";

    public static void Save(string path, TransformerSession session, TrainingOptions options, RunProgress progress, bool includeOptimizer = true)
    {
        var entries = new List<SafeTensorEntry>();
        foreach (var (name, values) in session.ReadParameters())
            entries.Add(SafeTensorEntry.FromArray(name, values, [.. session.Model.Parameter(name).Spec.Shape.Select(d => (long)d)]));
        if (includeOptimizer)
            foreach (var (name, values) in session.ReadOptimizerState())
                entries.Add(SafeTensorEntry.FromArray(name, values, values.LongLength));
        var metadata = new Dictionary<string, string>
        {
            [CheckpointMetadataKeys.FormatVersion] = "1",
            [CheckpointMetadataKeys.ModelConfig] = JsonSerializer.Serialize(options.Model, TrainingOptions.Json),
            [CheckpointMetadataKeys.Objective] = options.Objective.ToString().ToLowerInvariant(),
            [CheckpointMetadataKeys.Step] = progress.Step.ToString(CultureInfo.InvariantCulture),
            [CheckpointMetadataKeys.TokensSeen] = progress.TokensSeen.ToString(CultureInfo.InvariantCulture),
            [CheckpointMetadataKeys.Seed] = options.Seed.ToString(CultureInfo.InvariantCulture),
            [CheckpointMetadataKeys.TrainingConfig] = options.ToJson(),
            [CheckpointMetadataKeys.Tokenizer] = options.Model.Vocabulary.Name,
            [CheckpointMetadataKeys.CreatedUtc] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            [ProgressKey] = JsonSerializer.Serialize(progress, TrainingOptions.Json),
        };
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        CheckpointFile.Write(path, entries, metadata);
    }

    /// <summary>A checkpoint opened for reading, with its model config and objective parsed and checked.</summary>
    public sealed class Loaded : IDisposable
    {
        internal Loaded(SafeTensorsFile file, ModelConfig config, Objective objective, TrainingOptions? options, RunProgress? progress)
        {
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

        public Dictionary<string, float[]> ReadParameters()
        {
            var values = new Dictionary<string, float[]>();
            foreach (ParameterSpec spec in ModelParameters.Specs(Config))
            {
                SafeTensorInfo info = File.Info(spec.Name);
                if (!info.Shape.SequenceEqual(spec.Shape.Select(d => (long)d)))
                    throw new InvalidInputException($"{File.Path}: {spec.Name} has shape [{string.Join(", ", info.Shape)}] but the model config needs [{string.Join(", ", spec.Shape)}].");
                values[spec.Name] = File.Read<float>(spec.Name);
            }
            return values;
        }

        public Dictionary<string, float[]> ReadOptimizerState()
        {
            var state = new Dictionary<string, float[]>();
            foreach (ParameterSpec spec in ModelParameters.Specs(Config))
                foreach (string name in new[] { ModelParameters.FirstMoment(spec.Name), ModelParameters.SecondMoment(spec.Name) })
                    state[name] = File.Read<float>(name);
            return state;
        }

        public void Dispose() => File.Dispose();
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
