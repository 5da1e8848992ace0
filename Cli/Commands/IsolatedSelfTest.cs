using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using VkDiffusion.Runtime.SelfTest;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Cli.Commands;

/// <summary>
/// `vkdiff selftest --isolate`: each check family runs in a child vkdiff (`selftest --filter FAMILY --exact
/// --json-lines`), so a driver that aborts the process (SwiftShader's JIT does on kernels it cannot compile), hangs, or
/// eats memory costs that family alone: it is reported as a FAIL naming the case it was on, and the other families
/// still run. Children are killed past a memory cap (their working set; <see cref="MemoryCapVariable"/>, MiB) or a
/// deadline (<see cref="TimeoutVariable"/>, seconds).
/// </summary>
internal sealed class IsolatedSelfTest(string? device, Action<SelfTestResult> onResult, Action<string> onDevice)
{
    public const string MemoryCapVariable = "VKDIFF_SELFTEST_MEMORY_MB";
    public const string TimeoutVariable = "VKDIFF_SELFTEST_TIMEOUT_S";
    private const long DefaultMemoryCapMiB = 8192;
    private const double DefaultTimeoutSeconds = 1800;
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>One line of a child's --json-lines output: the device banner first, then one result per case.</summary>
    internal sealed record Line(string? Device, SelfTestResult? Result);

    public SelfTestReport Run(IEnumerable<string> families)
    {
        long memoryCapBytes = PositiveSetting(MemoryCapVariable, DefaultMemoryCapMiB) * 1024 * 1024;
        TimeSpan timeout = TimeSpan.FromSeconds(PositiveSetting(TimeoutVariable, DefaultTimeoutSeconds));
        var results = new List<SelfTestResult>();
        var clock = Stopwatch.StartNew();
        bool deviceShown = false;
        foreach (string family in families)
        {
            foreach (SelfTestResult result in RunFamily(family, memoryCapBytes, timeout, banner =>
            {
                if (!deviceShown) onDevice(banner);
                deviceShown = true;
            }))
            {
                results.Add(result);
                onResult(result);
            }
        }
        return new SelfTestReport(results, clock.Elapsed);
    }

    private IEnumerable<SelfTestResult> RunFamily(string family, long memoryCapBytes, TimeSpan timeout, Action<string> onBanner)
    {
        string[] arguments = ["selftest", "--filter", family, "--exact", "--json-lines", .. device is null ? Array.Empty<string>() : ["--device", device]];
        using var child = new Process { StartInfo = VkdiffProcess.StartInfo(arguments) };
        var lines = new System.Collections.Concurrent.BlockingCollection<string>();
        var errors = new Queue<string>();
        child.OutputDataReceived += (_, e) => { if (e.Data is null) lines.CompleteAdding(); else lines.Add(e.Data); };
        child.ErrorDataReceived += (_, e) =>
        {
            if (string.IsNullOrWhiteSpace(e.Data)) return;
            lock (errors)
            {
                errors.Enqueue(e.Data.Trim());
                if (errors.Count > 3) errors.Dequeue();
            }
        };
        child.Start();
        child.StandardInput.Close();
        child.BeginOutputReadLine();
        child.BeginErrorReadLine();
        var clock = Stopwatch.StartNew();
        string lastCase = "(before its first case)";
        string? killedBecause = null;
        while (!lines.IsCompleted || !child.HasExited)
        {
            if (lines.TryTake(out string? text, PollInterval))
            {
                Line? line = Parse(text);
                if (line?.Device is string banner) onBanner(banner);
                if (line?.Result is SelfTestResult result)
                {
                    lastCase = result.Case;
                    yield return result;
                }
                continue;
            }
            if (child.HasExited) continue;
            // Its output has closed: it is exiting; wait for that rather than poll.
            if (lines.IsCompleted && child.WaitForExit(PollInterval)) continue;
            killedBecause ??= clock.Elapsed > timeout ? $"did not finish within {timeout.TotalSeconds:0} s ({TimeoutVariable})"
                : VkdiffProcess.ResidentBytes(child) > memoryCapBytes ? $"used more than {memoryCapBytes / (1024 * 1024)} MiB of memory ({MemoryCapVariable})"
                : null;
            if (killedBecause is not null) VkdiffProcess.End(child);
        }
        child.WaitForExit();
        if (killedBecause is null && child.ExitCode is ExitCodes.Success or ExitCodes.SelfTestFailed) yield break;
        string stderr;
        lock (errors) stderr = string.Join(" | ", errors);
        string why = killedBecause ?? $"the child process ended with {VkdiffProcess.DescribeExit(child.ExitCode)}";
        yield return SelfTestResult.Failed(family, $"(crashed after: {lastCase})", stderr.Length == 0 ? why : $"{why}; its last words: {stderr}");
    }

    private static Line? Parse(string text)
    {
        if (!text.StartsWith('{')) return null;
        try
        {
            return JsonSerializer.Deserialize<Line>(text, SelfTestCommand.JsonSettings);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static double PositiveSetting(string variable, double fallback)
    {
        string? text = Environment.GetEnvironmentVariable(variable)?.Trim();
        if (string.IsNullOrEmpty(text)) return fallback;
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && value > 0 && value < 1e9) return value;
        throw new InvalidInputException($"{variable}={text} is not a number above 0.");
    }

    private static long PositiveSetting(string variable, long fallback) => (long)PositiveSetting(variable, (double)fallback);
}
