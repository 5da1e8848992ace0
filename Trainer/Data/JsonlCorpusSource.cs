using System.Text.Json;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Data;

/// <summary>JSON Lines: one object per line whose string field "text" is a document; blank lines are skipped.</summary>
public sealed class JsonlCorpusSource(string path) : CorpusSource(path)
{
    public override string Format => "jsonl";

    public override IEnumerable<string> ReadDocuments()
    {
        using var reader = new Utf8LineReader(OpenRead(Path), Path);
        while (reader.ReadLine(trimCarriageReturn: false) is { } line)
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            string text = ParseText(line, reader.LineNumber);
            if (text.Length > 0) yield return text;
        }
    }

    private string ParseText(string line, long lineNumber)
    {
        try
        {
            using var document = JsonDocument.Parse(line);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw Error(lineNumber, $"expected a JSON object, found {document.RootElement.ValueKind}");
            if (!document.RootElement.TryGetProperty("text", out JsonElement text))
                throw Error(lineNumber, "the object has no \"text\" field");
            if (text.ValueKind != JsonValueKind.String)
                throw Error(lineNumber, $"\"text\" is {text.ValueKind}, not a string");
            return text.GetString()!;
        }
        catch (Exception error) when (error is JsonException or InvalidOperationException)
        {
            throw Error(lineNumber, $"malformed JSON ({error.Message})", error);
        }
    }

    private InvalidInputException Error(long lineNumber, string what, Exception? inner = null) =>
        new($"{Path}: line {lineNumber}: {what}.", inner);
}
