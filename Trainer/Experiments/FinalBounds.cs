using System.Globalization;
using System.Text.Json;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Experiments;

/// <summary>
/// An MDM run's best checkpoint evaluated again with many samples of t (`vkdiff eval --mc K --out`): the Monte Carlo
/// bound on its validation NLL and that bound's standard error. The training-time evaluations use few samples and one
/// seed for every run, so their errors are shared and not stated; a verdict against AR's exact NLL needs this one.
/// </summary>
public sealed record FinalBound(double Loss, double StandardError, int MonteCarloSamples);

/// <summary>A folder of final evaluations, one per MDM run, each named by the sweep's run id: ID.eval-final.json.</summary>
public static class FinalBounds
{
    public const string Suffix = ".eval-final.json";

    /// <summary>
    /// The final bounds in <paramref name="directory"/> by run id. A file that is not an MDM evaluation with a standard
    /// error is refused, naming it: a verdict resting on it would not say what it claims.
    /// </summary>
    public static IReadOnlyDictionary<string, FinalBound> Read(string directory)
    {
        if (!Directory.Exists(directory)) throw new InvalidInputException($"--final-evals: {directory} is not a folder.");
        var bounds = new Dictionary<string, FinalBound>(StringComparer.Ordinal);
        foreach (string file in Directory.EnumerateFiles(directory, "*" + Suffix).Order(StringComparer.Ordinal))
            bounds[Path.GetFileName(file)[..^Suffix.Length]] = ReadOne(file);
        return bounds;
    }

    private static FinalBound ReadOne(string file)
    {
        const string Expected = "an MDM evaluation written by `vkdiff eval --mc K --out` (objective mdm, loss, standard_error, mc_samples)";
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(file));
            JsonElement root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object
                && root.TryGetProperty("objective", out var objective) && objective.ValueKind == JsonValueKind.String && objective.GetString() == "mdm"
                && root.TryGetProperty("loss", out var loss) && loss.ValueKind == JsonValueKind.Number && loss.GetDouble() is var lossValue && double.IsFinite(lossValue)
                && root.TryGetProperty("standard_error", out var error) && error.ValueKind == JsonValueKind.Number && error.GetDouble() is var errorValue && errorValue >= 0
                && root.TryGetProperty("mc_samples", out var samples) && samples.ValueKind == JsonValueKind.Number && samples.TryGetInt32(out int sampleCount) && sampleCount > 0)
                return new FinalBound(lossValue, errorValue, sampleCount);
            throw new InvalidInputException($"{file} is not {Expected}.");
        }
        catch (JsonException exception)
        {
            throw new InvalidInputException(string.Create(CultureInfo.InvariantCulture,
                $"{file} is not valid JSON (line {exception.LineNumber + 1}): expected {Expected}."));
        }
    }
}
