using System.Text.Json;
using System.Text.Json.Serialization;

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
    double ElapsedS);

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

    public static IReadOnlyList<MetricsRecord> Read(string path) =>
        File.Exists(path)
            ? File.ReadLines(path).Where(line => line.Trim().Length > 0).Select(line => JsonSerializer.Deserialize<MetricsRecord>(line, Options)!).ToList()
            : [];

    /// <summary>Drops records after <paramref name="step"/> (a resumed run rewrites what followed its checkpoint).</summary>
    public void TruncateAfter(long step)
    {
        if (!File.Exists(Path)) return;
        var kept = Read(Path).Where(r => r.Step <= step).Select(r => JsonSerializer.Serialize(r, Options) + "\n");
        string temporary = Path + ".tmp";
        File.WriteAllText(temporary, string.Concat(kept));
        File.Move(temporary, Path, overwrite: true);
    }
}
