using System.Text.Json;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Tests.Runtime;

public sealed class BenchCommandTests
{
    private static readonly Dictionary<string, string> Lavapipe = new() { ["VK_DRIVER_FILES"] = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json" };

    [Fact]
    public void An_unknown_bench_mode_is_a_clear_usage_error()
    {
        var (exitCode, _, error) = CliErrorTests.RunVkdiff(Lavapipe, "bench", "everything");
        Assert.Equal(ExitCodes.InvalidInput, exitCode);
        Assert.Contains("unknown bench mode 'everything'", error);
        Assert.DoesNotContain("   at ", error);
    }

    // The JSON report carries the device, a positive roofline and, per case, a time and a throughput
    // consistent with the case's flop count (2 * 512^3 per product).
    [Fact]
    public void Bench_kernels_json_reports_the_roofline_and_each_case()
    {
        var (exitCode, output, error) = CliErrorTests.RunVkdiff(Lavapipe, "bench", "kernels", "--quick", "--json", "--filter", "square512");
        Assert.True(exitCode == ExitCodes.Success, error);
        using JsonDocument report = JsonDocument.Parse(output);
        JsonElement root = report.RootElement;
        Assert.Contains("llvmpipe", root.GetProperty("banner").GetString());
        Assert.True(root.GetProperty("roofline").GetProperty("gflops").GetDouble() > 0);
        Assert.True(root.GetProperty("roofline").GetProperty("gigabytesPerSecond").GetDouble() > 0);
        var cases = root.GetProperty("cases").EnumerateArray().ToList();
        Assert.Equal(["matmul.fwd.square512", "matmul.bwd_in.square512", "matmul.bwd_w.square512"], cases.Select(c => c.GetProperty("name").GetString()));
        foreach (JsonElement benchmarkCase in cases)
        {
            double milliseconds = benchmarkCase.GetProperty("milliseconds").GetDouble();
            double expectedGflops = 2.0 * 512 * 512 * 512 / (milliseconds * 1e6);
            Assert.Equal(expectedGflops, benchmarkCase.GetProperty("gflops").GetDouble(), expectedGflops * 1e-9);
        }
    }

    // camelCase like `bench kernels --json`; the per-kernel times are objects with their fields; under a bound
    // far above any dispatch the step stays one submission.
    [Fact]
    public void Bench_step_json_reports_the_step_the_host_time_and_each_top_kernel()
    {
        using JsonDocument report = BenchTinyStep("--max-submit-ms", "100000");
        JsonElement root = report.RootElement;
        Assert.Equal("tiny", root.GetProperty("model").GetString());
        Assert.Equal(16, root.GetProperty("sequenceLength").GetInt32());
        double stepMilliseconds = root.GetProperty("stepMilliseconds").GetDouble();
        Assert.True(stepMilliseconds > 0);
        Assert.Equal(2 * 16 / (stepMilliseconds / 1000), root.GetProperty("tokensPerSecond").GetDouble(), 1e-6 * root.GetProperty("tokensPerSecond").GetDouble());
        double hostMilliseconds = root.GetProperty("hostMilliseconds").GetDouble();
        Assert.InRange(hostMilliseconds, double.Epsilon, stepMilliseconds);
        Assert.InRange(root.GetProperty("hiddenHostMilliseconds").GetDouble(), 0, hostMilliseconds);
        Assert.Equal(100000, root.GetProperty("maxSubmitMilliseconds").GetDouble());
        Assert.Equal(1, root.GetProperty("submissionsPerStep").GetDouble());
        Assert.True(root.GetProperty("dispatchesPerStep").GetInt32() > 0);
        Assert.True(root.GetProperty("totalBytes").GetInt64() > 0);
        var kernels = root.GetProperty("topKernels").EnumerateArray().ToList();
        Assert.NotEmpty(kernels);
        foreach (JsonElement kernel in kernels)
        {
            Assert.False(string.IsNullOrEmpty(kernel.GetProperty("kernel").GetString()));
            Assert.True(kernel.GetProperty("calls").GetInt32() > 0);
            Assert.True(kernel.GetProperty("milliseconds").GetDouble() >= 0);
        }
        Assert.Contains(kernels, kernel => kernel.GetProperty("kernel").GetString()!.StartsWith("matmul", StringComparison.Ordinal));
    }

    // fp16's loss scaler runs on the device, so the fp16 step submits ahead as training does.
    [Fact]
    public void Bench_step_in_fp16_submits_ahead()
    {
        using JsonDocument report = BenchTinyStep("--precision", "fp16");
        Assert.Equal("fp16", report.RootElement.GetProperty("precision").GetString());
        Assert.True(report.RootElement.GetProperty("submitAhead").GetBoolean());
    }

    /// <summary>`bench step --json` of two tiny steps (sequence 16, batch 2) with <paramref name="options"/>; it must succeed.</summary>
    private static JsonDocument BenchTinyStep(params string[] options)
    {
        var (exitCode, output, error) = CliErrorTests.RunVkdiff(Lavapipe,
            ["bench", "step", "--model", "tiny", "--seq", "16", "--batch", "2", "--steps", "2", .. options, "--json"]);
        Assert.True(exitCode == ExitCodes.Success, error);
        return JsonDocument.Parse(output);
    }

    [Theory]
    [InlineData("0", ExitCodes.Usage, "must be a positive number")]
    [InlineData("-5", ExitCodes.Usage, "must be a positive number")]
    // Every dispatch takes longer than a picosecond.
    [InlineData("0.000000001", ExitCodes.InvalidInput, "below the longest single dispatch")]
    public void A_submission_bound_that_is_not_positive_or_below_a_dispatch_is_a_one_line_error(string bound, int expectedExitCode, string expectedMessage)
    {
        var (exitCode, _, error) = CliErrorTests.RunVkdiff(Lavapipe, "bench", "step", "--model", "tiny", "--seq", "16", "--batch", "1",
            "--steps", "1", $"--max-submit-ms={bound}", "--json");
        Assert.Equal(expectedExitCode, exitCode);
        Assert.Contains(expectedMessage, error);
        Assert.Single(error.Trim().Split('\n'));
        Assert.DoesNotContain("   at ", error);
    }
}
