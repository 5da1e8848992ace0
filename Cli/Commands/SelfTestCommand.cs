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

    // NaN errors (a kernel that produced NaN) must serialise, not throw.
    private static readonly JsonSerializerOptions JsonSettings = new(JsonOptions.Indented)
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    };

    public int Run()
    {
        // Validation follows VKDIFF_VALIDATION=1; its messages fail the check that caused them.
        using GpuContext context = GpuContext.Create(Device);
        return Execute(context, SelfTestSuite.Discover(), Console.Out);
    }

    /// <summary>Runs <paramref name="suite"/> on <paramref name="context"/>, writes the report, returns the exit code.</summary>
    internal int Execute(GpuContext context, SelfTestSuite suite, TextWriter output)
    {
        if (Json)
        {
            SelfTestReport report = suite.Run(context, Filter);
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
        SelfTestReport result = suite.Run(context, Filter, r => output.WriteLine(FormatLine(r)));
        output.WriteLine(result.Passed
            ? $"selftest passed: {result.Results.Count} cases in {result.Elapsed.TotalSeconds:F1} s"
            : $"selftest FAILED: {result.FailedCount} of {result.Results.Count} cases failed (see docs/porting.md for what to report)");
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
