using System.Globalization;
using System.Text;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Files;

namespace VkDiffusion.Trainer.Experiments;

/// <summary>One finished training run of the sweep: one row of results.csv.</summary>
public sealed record RunResult(
    string Objective,
    string Preset,
    long Params,
    long UniqueTokens,
    double Epochs,
    long Tokens,
    double Flops,
    double FinalValLoss,
    double BestValLoss,
    double BestEpoch,
    double WallSeconds,
    string Device,
    string Dataset = "",
    string Vocabulary = "");

/// <summary>
/// results.csv: one row per run, appended by the sweep. The dataset (a fingerprint of its sources) and vocabulary
/// columns came later: a file without them still reads, with both empty. RFC 4180 quoting (a field with a comma, quote or line
/// break is quoted, quotes doubled), invariant culture, numbers written round-trippable.
/// </summary>
public static class ResultsTable
{
    public static readonly string[] Columns =
    [
        "objective", "preset", "params", "unique_tokens", "epochs", "tokens", "flops",
        "final_val_loss", "best_val_loss", "best_epoch", "wall_s", "device", "dataset", "vocabulary",
    ];

    private static readonly string[] OptionalColumns = ["dataset", "vocabulary"];

    public static string Header => string.Join(',', Columns);

    public static IReadOnlyList<RunResult> Read(string path)
    {
        if (!File.Exists(path)) throw new InvalidInputException($"Results file '{path}' does not exist.");
        return Parse(File.ReadAllText(path), path);
    }

    public static IReadOnlyList<RunResult> Parse(string text, string source = "results")
    {
        var records = SplitRecords(text, source);
        if (records.Count == 0) throw new InvalidInputException($"{source}: empty; expected the header `{Header}`.");
        var header = records[0].Fields;
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < header.Count; i++) index[header[i].Trim()] = i;
        var missing = Columns.Where(column => !index.ContainsKey(column) && !OptionalColumns.Contains(column)).ToList();
        if (missing.Count > 0)
            throw new InvalidInputException($"{source}: header lacks column(s) {string.Join(", ", missing)}; expected `{Header}`.");

        var runs = new List<RunResult>();
        foreach (var (line, fields) in records.Skip(1))
        {
            if (fields.Count == 1 && fields[0].Length == 0) continue; // blank line
            if (fields.Count != header.Count)
                throw new InvalidInputException($"{source} line {line}: {fields.Count} fields, the header has {header.Count}.");
            string Text(string column) => index.TryGetValue(column, out int at) ? fields[at] : "";
            long Integer(string column) =>
                long.TryParse(Text(column), NumberStyles.Integer, CultureInfo.InvariantCulture, out long value)
                    ? value
                    : throw new InvalidInputException($"{source} line {line}: {column} '{Text(column)}' is not an integer.");
            double Real(string column) =>
                double.TryParse(Text(column), NumberStyles.Float, CultureInfo.InvariantCulture, out double value)
                    ? value
                    : throw new InvalidInputException($"{source} line {line}: {column} '{Text(column)}' is not a number.");
            runs.Add(new RunResult(Text("objective"), Text("preset"), Integer("params"), Integer("unique_tokens"),
                Real("epochs"), Integer("tokens"), Real("flops"), Real("final_val_loss"), Real("best_val_loss"),
                Real("best_epoch"), Real("wall_s"), Text("device"), Text("dataset"), Text("vocabulary")));
        }
        return runs;
    }

    /// <summary>
    /// Appends rows, writing the header first when the file is new or empty; refuses a file with another header.
    /// Concurrent sweep workers may append at once: each holds PATH.lock while it checks the header and appends
    /// its rows in a single write.
    /// </summary>
    public static void Append(string path, IEnumerable<RunResult> runs)
    {
        using ExclusiveLock appending = ExclusiveLock.Wait(path + ".lock");
        bool fresh = !File.Exists(path) || new FileInfo(path).Length == 0;
        if (!fresh)
        {
            string firstLine = File.ReadLines(path).FirstOrDefault() ?? "";
            if (firstLine.Trim() != Header)
                throw new InvalidInputException($"{path}: its header `{firstLine}` differs from `{Header}`; write to a new file " +
                                                "(an older results.csv without the dataset and vocabulary columns still reads in `vkdiff fit`).");
        }
        var text = new StringBuilder();
        if (fresh) text.Append(Header).Append('\n');
        foreach (var run in runs) text.Append(Format(run)).Append('\n');
        using var file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
        file.Write(Encoding.UTF8.GetBytes(text.ToString()));
    }

    public static void Write(string path, IEnumerable<RunResult> runs)
    {
        if (File.Exists(path)) File.Delete(path);
        Append(path, runs);
    }

    public static string Format(RunResult run) => string.Join(',',
        Quote(run.Objective), Quote(run.Preset), Number(run.Params), Number(run.UniqueTokens), Number(run.Epochs),
        Number(run.Tokens), Number(run.Flops), Number(run.FinalValLoss), Number(run.BestValLoss), Number(run.BestEpoch),
        Number(run.WallSeconds), Quote(run.Device), Quote(run.Dataset), Quote(run.Vocabulary));

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);
    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static string Quote(string field) =>
        field.IndexOfAny([',', '"', '\n', '\r']) >= 0 || field != field.Trim()
            ? "\"" + field.Replace("\"", "\"\"") + "\""
            : field;

    /// <summary>Splits CSV text into records (line number, fields); quoted fields may hold commas, quotes and line breaks.</summary>
    private static List<(int Line, List<string> Fields)> SplitRecords(string text, string source)
    {
        var records = new List<(int, List<string>)>();
        var fields = new List<string>();
        var field = new StringBuilder();
        bool quoted = false, any = false;
        int line = 1, recordLine = 1;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else { if (c == '\n') line++; field.Append(c); }
                continue;
            }
            switch (c)
            {
                case '"' when field.Length == 0: quoted = true; any = true; break;
                case ',': fields.Add(field.ToString()); field.Clear(); any = true; break;
                case '\r': break;
                case '\n':
                    fields.Add(field.ToString());
                    records.Add((recordLine, fields));
                    fields = [];
                    field.Clear();
                    any = false;
                    recordLine = ++line;
                    break;
                default: field.Append(c); any = true; break;
            }
        }
        if (quoted) throw new InvalidInputException($"{source} line {recordLine}: a quoted field is not closed.");
        if (any || field.Length > 0) { fields.Add(field.ToString()); records.Add((recordLine, fields)); }
        return records;
    }
}
