using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using CommandLine;
using VkDiffusion.Runtime.SelfTest;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Cli.Commands;

[Verb("selftest", HelpText = "Run every kernel on a device against its CPU reference; the first thing to run on a new GPU or driver (see docs/porting.md).")]
public sealed class SelfTestCommand : ICommand
{
    [Option("device", HelpText = "Device index or name substring (default: VKDIFF_DEVICE, else the best device). See `vkdiff devices`.")]
    public string? Device { get; set; }

    [Option("json", HelpText = "Print one JSON object (device, results, passed) instead of text lines.")]
    public bool Json { get; set; }

    [Option("filter", HelpText = "Run only the checks whose name contains this text, or one of several comma-separated texts (e.g. cross_entropy,adamw).")]
    public string? Filter { get; set; }

    [Option("exact", HelpText = "--filter names whole checks (attention, not everything containing it).")]
    public bool Exact { get; set; }

    [Option("isolate", HelpText = "Run each check family in a child process, so a driver that aborts, hangs or eats memory fails that family alone " +
        "(limits: VKDIFF_SELFTEST_MEMORY_MB, VKDIFF_SELFTEST_TIMEOUT_S). What to attach to a bug report.")]
    public bool Isolate { get; set; }

    [Option("json-lines", Hidden = true, HelpText = "One JSON object a line as each case finishes (what --isolate reads from its children).")]
    public bool JsonLines { get; set; }

    // NaN errors (a kernel that produced NaN) must serialise, not throw.
    internal static readonly JsonSerializerOptions JsonSettings = new(JsonOptions.Indented)
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    };
    private static readonly JsonSerializerOptions JsonLineSettings = new(JsonSettings) { WriteIndented = false };

    public int Run()
    {
        if (Isolate) return RunIsolated(SelfTestSuite.Discover(), Console.Out);
        // Validation follows VKDIFF_VALIDATION=1; its messages fail the check that caused them.
        using GpuContext context = GpuContext.Create(Device);
        return Execute(context, SelfTestSuite.Discover(), Console.Out);
    }

    private int RunIsolated(SelfTestSuite suite, TextWriter output)
    {
        if (JsonLines) throw new InvalidInputException("--isolate and --json-lines do not go together: --isolate reads its children's JSON lines.");
        IReadOnlyList<string> families = suite.Select(Filter, Exact).Select(check => check.Name).ToList();
        string banner = "";
        var runner = new IsolatedSelfTest(Device, result => { if (!Json) output.WriteLine(FormatLine(result)); },
            line => { banner = line; if (!Json) output.WriteLine($"device: {line}"); });
        if (!Json) output.WriteLine($"isolated: each of {families.Count} check families in its own process");
        SelfTestReport report = runner.Run(families);
        if (Json)
        {
            output.WriteLine(JsonSerializer.Serialize(new
            {
                device = banner,
                isolated = true,
                passed = report.Passed,
                failed = report.FailedCount,
                elapsedSeconds = report.Elapsed.TotalSeconds,
                results = report.Results.Select(r => new { r.Check, r.Case, r.Passed, r.MaxError, r.Tolerance, r.Failure }),
            }, JsonSettings));
        }
        else
            output.WriteLine(Summary(report));
        return report.Passed ? ExitCodes.Success : ExitCodes.SelfTestFailed;
    }

    private static string Summary(SelfTestReport report) => report.Passed
        ? $"selftest passed: {report.Results.Count} cases in {report.Elapsed.TotalSeconds:F1} s"
        : $"selftest FAILED: {report.FailedCount} of {report.Results.Count} cases failed (see docs/porting.md for what to report)";

    /// <summary>Runs <paramref name="suite"/> on <paramref name="context"/>, writes the report, returns the exit code.</summary>
    internal int Execute(GpuContext context, SelfTestSuite suite, TextWriter output)
    {
        if (JsonLines)
        {
            output.WriteLine(JsonSerializer.Serialize(new IsolatedSelfTest.Line(context.Info.Banner, null), JsonLineSettings));
            SelfTestReport streamed = suite.Run(context, Filter, Exact, r => output.WriteLine(JsonSerializer.Serialize(new IsolatedSelfTest.Line(null, r), JsonLineSettings)));
            return streamed.Passed ? ExitCodes.Success : ExitCodes.SelfTestFailed;
        }
        if (Json)
        {
            SelfTestReport report = suite.Run(context, Filter, Exact);
            output.WriteLine(JsonSerializer.Serialize(new
            {
                device = context.Info,
                validation = context.Validation is not null,
                passed = report.Passed,
                failed = report.FailedCount,
                elapsedSeconds = report.Elapsed.TotalSeconds,
                results = report.Results.Select(r => new { r.Check, r.Case, r.Passed, r.MaxError, r.Tolerance, r.Failure }),
            }, JsonSettings));
            return report.Passed ? ExitCodes.Success : ExitCodes.SelfTestFailed;
        }

        output.WriteLine($"device: {context.Info.Banner}");
        output.WriteLine($"validation: {(context.Validation is not null ? "on" : "off (set VKDIFF_VALIDATION=1 to turn it on)")}");
        SelfTestReport result = suite.Run(context, Filter, Exact, r => output.WriteLine(FormatLine(r)));
        output.WriteLine(Summary(result));
        return result.Passed ? ExitCodes.Success : ExitCodes.SelfTestFailed;
    }

    internal static string FormatLine(SelfTestResult result)
    {
        string verdict = result.Passed ? "PASS" : "FAIL";
        string line = string.Create(CultureInfo.InvariantCulture,
            $"{verdict}  {result.Check,-14} max error {result.MaxError,9:0.0e+00}  tolerance {result.Tolerance,9:0.0e+00}  {result.Case}");
        return result.Failure is null ? line : $"{line}  ({result.Failure})";
    }
}
