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
}
