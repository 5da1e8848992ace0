using System.Text.Json;
using System.Text.Json.Serialization;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Experiments;

/// <summary>
/// fit.json: the fitted law of each objective, with the loss column it was fitted on, and C_crit(U) with bootstrap
/// intervals at the results' budgets when both families were fitted jointly with a bootstrap.
/// </summary>
public sealed record FitFile(
    [property: JsonPropertyName("loss_column")] string LossColumn,
    [property: JsonPropertyName("objectives")] IReadOnlyDictionary<string, ObjectiveFit> Objectives,
    [property: JsonPropertyName("crossover")] IReadOnlyList<CriticalComputeInterval>? Crossover = null)
{
    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        // Not Environment.NewLine: the same bytes on Windows as on Linux (config.json, checkpoint metadata, reports).
        NewLine = "\n",
        // A constant missing from a hand-edited file must be an error, not a silent 0.
        RespectRequiredConstructorParameters = true,
        // For the records without explicit names (intervals, crossover): "unique_tokens"; dictionary keys keep theirs.
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        // R² is NaN for a stage with no points (all its constants fixed), and an interval's ends are NaN where no
        // resample found a crossover; keep them rather than fail.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Options);

    public void Write(string path) => File.WriteAllText(path, ToJson() + "\n");

    public static FitFile Read(string path)
    {
        if (!File.Exists(path)) throw new InvalidInputException($"Fit file '{path}' does not exist; write one with `vkdiff fit --out`.");
        try
        {
            return JsonSerializer.Deserialize<FitFile>(File.ReadAllText(path), Options)
                   ?? throw new InvalidInputException($"{path}: empty fit file.");
        }
        catch (JsonException error)
        {
            throw new InvalidInputException($"{path}: not a fit file written by `vkdiff fit` ({error.Message}).", error);
        }
    }

    /// <summary>The law fitted for one objective, or a message naming the objectives the file has.</summary>
    public ScalingLaw Law(string objective) =>
        Objectives.FirstOrDefault(pair => string.Equals(pair.Key, objective, StringComparison.OrdinalIgnoreCase)).Value?.Law
        ?? throw new InvalidInputException(
            $"The fit file has no '{objective}' objective (it has: {string.Join(", ", Objectives.Keys)}); fit results of both families.");
}
