using System.Text.Json;
using System.Text.Json.Nodes;

namespace VkDiffusion.Cli.Commands;

/// <summary>One part of `vkdiff report`: a child vkdiff's command, exit code, its JSON output (or its text when that is not JSON) and its last errors.</summary>
internal sealed record ReportPart(string Name, string Command, int ExitCode, bool TimedOut, string Output, string Errors)
{
    private const int ErrorLinesKept = 40;
    private const int TextCharactersKept = 20000;

    public JsonObject ToJson()
    {
        JsonNode? result = Parse(Output);
        string[] errorLines = Errors.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return new JsonObject
        {
            ["command"] = "vkdiff " + Command,
            ["exitCode"] = ExitCode,
            ["timedOut"] = TimedOut,
            ["result"] = result,
            ["output"] = result is null ? Output[Math.Max(0, Output.Length - TextCharactersKept)..] : null,
            ["errors"] = string.Join('\n', errorLines.TakeLast(ErrorLinesKept)),
        };
    }

    private static JsonNode? Parse(string text)
    {
        try
        {
            return JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
