using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace VkDiffusion.Cli.Commands;

/// <summary>The Markdown summary of a `vkdiff report`: what a maintainer reads first (the JSON beside it has everything).</summary>
internal static class ReportSummary
{
    private const int ListedFailures = 20;

    // One line per device: its `vkdiff tune` results (shape: settings) or why there are none.
    private static string TunerCache(JsonNode tuning)
    {
        if (tuning["ignored"] is JsonNode ignored) return $"ignored ({ignored})";
        if (tuning["cache"]?["entries"]?.AsArray() is not { Count: > 0 } entries) return "none (`vkdiff tune` has not run on it)";
        return string.Join("; ", entries.Select(entry =>
        {
            var settings = entry!["settings"]?.AsObject().Select(s => $"{s.Key}={s.Value}").ToList() ?? [];
            string complete = entry["complete"]?.GetValue<bool>() == true ? "" : " (interrupted)";
            return $"{entry["shape"]}: {(settings.Count == 0 ? "defaults" : string.Join(" ", settings))}{complete}";
        }));
    }

    public static string Write(JsonObject report)
    {
        var text = new StringBuilder();
        void Line(string line = "") => text.Append(line).Append('\n');
        Line("# vkdiff report");
        Line();
        Line($"- vkdiff {report["vkdiff"]}, {report["dotnet"]}, {report["os"]} ({report["architecture"]})");
        Line($"- Vulkan loader {report["vulkanLoader"]}");
        foreach (JsonNode? tuning in report["tunerCache"]?.AsArray() ?? [])
            Line($"- tuner cache of device {tuning!["device"]}: {TunerCache(tuning)}");
        Line();
        Line("## Devices");
        Line();
        Line("| index | device | vendor | type | driver | Vulkan | subgroup | coopmat |");
        Line("| --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (JsonNode? device in report["devices"]?.AsArray() ?? [])
            Line($"| {device!["index"]} | {device["name"]} | {device["vendor"]} | {device["deviceType"]} | {device["driverName"]} {device["driverVersion"]} " +
                $"({device["driverInfo"]}) | {device["apiVersion"]} | {device["subgroupSize"]} ({device["minSubgroupSize"]}-{device["maxSubgroupSize"]}) | " +
                $"{(device["cooperativeMatrix"]?.GetValue<bool>() == true ? "yes" : "no")} |");
        foreach (JsonNode? quirk in report["quirks"]?.AsArray() ?? [])
            Line($"- quirk on device {quirk!["device"]}: {quirk["quirk"]} ({quirk["switches"]})");
        Line();

        // A part's heading, its outcome, and its JSON result when it wrote one.
        JsonObject? Section(string title, string name)
        {
            JsonObject part = report[name]!.AsObject();
            Line($"## {title} (`{part["command"]}`)");
            Line();
            Line(Outcome(part));
            return part["result"] as JsonObject;
        }

        if (Section("Self-test", "selftest") is JsonObject selfTestResult)
        {
            JsonArray results = selfTestResult["results"]?.AsArray() ?? [];
            Line($"{results.Count(r => r!["passed"]?.GetValue<bool>() == true)} of {results.Count} cases passed.");
            var failures = results.Where(r => r!["passed"]?.GetValue<bool>() != true).ToList();
            if (failures.Count > 0)
            {
                Line();
                foreach (JsonNode? failure in failures.Take(ListedFailures))
                    Line($"- FAIL `{failure!["check"]}` {failure["case"]}: max error {Number(failure["maxError"])}, tolerance {Number(failure["tolerance"])}" +
                        (failure["failure"] is JsonNode why ? $" ({why})" : ""));
                if (failures.Count > ListedFailures) Line($"- ... and {failures.Count - ListedFailures} more (in the JSON)");
            }
        }
        Line();

        if (Section("Pipelines", "kernels") is JsonObject kernelsResult)
        {
            JsonArray pipelines = kernelsResult["pipelines"]?.AsArray() ?? [];
            Line($"{kernelsResult["compiled"]} of {pipelines.Count} pipelines compiled; driver statistics: " +
                $"{(kernelsResult["statisticsOffered"]?.GetValue<bool>() == true ? "yes" : "not offered")}.");
            foreach (JsonNode? pipeline in pipelines.Where(p => p!["compiled"]?.GetValue<bool>() != true).Take(ListedFailures))
                Line($"- FAILED `{pipeline!["pipeline"]}`: {pipeline["error"]}");
            var spilling = pipelines.Where(p => Statistic(p!, "Spilled VGPRs") > 0 || Statistic(p!, "Scratch size") > 0).ToList();
            if (spilling.Count > 0)
                Line($"- {spilling.Count} pipelines spill registers to scratch memory: " +
                    string.Join(", ", spilling.Select(p => $"`{p!["kernel"]}`").Distinct().Take(ListedFailures)));
        }
        Line();

        if (Section("Benchmark", "bench") is JsonObject benchResult)
        {
            JsonNode? roofline = benchResult["roofline"];
            Line($"Roofline: {Number(roofline?["gflops"])} GFLOP/s, {Number(roofline?["gigabytesPerSecond"])} GB/s.");
            Line();
            if (benchResult["cases"]?.AsArray() is not { Count: > 0 })
                return text.Append("No benchmark case matched.\n").ToString();
            Line("| case | ms | GFLOP/s | GB/s | of the roof |");
            Line("| --- | --- | --- | --- | --- |");
            foreach (JsonNode? benchCase in benchResult["cases"]?.AsArray() ?? [])
                Line($"| {benchCase!["name"]} | {Number(benchCase["milliseconds"])} | {Number(benchCase["gflops"])} | {Number(benchCase["gigabytesPerSecond"])} | " +
                    $"{Number(benchCase["roofFraction"], percent: true)} |");
        }
        return text.ToString();
    }

    private static string Outcome(JsonObject part)
    {
        int exitCode = part["exitCode"]!.GetValue<int>();
        string errors = part["errors"]?.GetValue<string>() ?? "";
        string lastError = errors.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "";
        if (part["timedOut"]?.GetValue<bool>() == true) return $"It did not finish in time and was ended. Last message: `{lastError}`";
        return exitCode == 0 ? "Exit 0." : $"Exit {exitCode} (docs/cli.md, exit codes). Last message: `{lastError}`";
    }

    private static double Statistic(JsonNode pipeline, string name) =>
        (pipeline["executables"]?.AsArray() ?? []).Take(1)
            .SelectMany(e => e!["statistics"]?.AsArray() ?? [])
            .Where(s => s!["name"]?.GetValue<string>() == name)
            .Select(s => s!["value"]!.GetValue<double>())
            .FirstOrDefault();

    private static string Number(JsonNode? value, bool percent = false)
    {
        if (value is null) return "-";
        // NaN and the infinities are written as strings ("NaN"): a kernel that produced NaN.
        if (!value.AsValue().TryGetValue(out double number)) return value.ToString();
        return percent ? number.ToString("P0", CultureInfo.InvariantCulture) : number.ToString("G4", CultureInfo.InvariantCulture);
    }
}
