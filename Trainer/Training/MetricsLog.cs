using System.Text.Json;
using System.Text.Json.Serialization;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Files;

namespace VkDiffusion.Trainer.Training;

/// <summary>One line of RUN_DIR/metrics.jsonl.</summary>
public sealed record MetricsRecord(
    long Step,
    double Epoch,
    long Tokens,
    double TrainLoss,
    double? ValLoss,
    double Lr,
    double GradNorm,
    double TokensPerS,
    double ElapsedS,
    // fp16 only: the loss scale after this step and the steps skipped so far for overflowed gradients.
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? LossScale = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? SkippedSteps = null);

/// <summary>Appends metrics records as JSON lines, flushed after each so a crash loses nothing logged.</summary>
public sealed class MetricsLog
{
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        // The record of the step that diverged holds NaN or infinity; it is written all the same.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public string Path { get; }

    public MetricsLog(string path) => Path = path;

    public void Append(MetricsRecord record) =>
        File.AppendAllText(Path, JsonSerializer.Serialize(record, Options) + "\n");

    /// <summary>
    /// The records of a metrics file. A last line without its newline is a write torn by a crash and is dropped (the
    /// resumed run writes that step again); a bad line anywhere else is corruption and names its line.
    /// </summary>
    public static IReadOnlyList<MetricsRecord> Read(string path)
    {
        if (!File.Exists(path)) return [];
        string text = File.ReadAllText(path);
        string[] lines = text.Split('\n');
        var records = new List<MetricsRecord>();
        for (int index = 0; index < lines.Length; index++)
        {
            if (lines[index].Trim().Length == 0) continue;
            bool torn = index == lines.Length - 1;
            try
            {
                records.Add(JsonSerializer.Deserialize<MetricsRecord>(lines[index], Options)
                    ?? throw new JsonException("a null record"));
            }
            catch (JsonException) when (torn)
            {
                break;
            }
            catch (JsonException error)
            {
                throw new InvalidInputException($"{path}:{index + 1} is not a metrics record ({error.Message}); remove the line to resume.", error);
            }
        }
        return records;
    }

    /// <summary>Drops records after <paramref name="step"/> (a resumed run rewrites what followed its checkpoint).</summary>
    public void TruncateAfter(long step)
    {
        if (!File.Exists(Path)) return;
        var kept = Read(Path).Where(r => r.Step <= step).Select(r => JsonSerializer.Serialize(r, Options) + "\n");
        AtomicFile.WriteAllText(Path, string.Concat(kept));
    }
}
