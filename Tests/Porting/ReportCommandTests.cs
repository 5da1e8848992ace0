using System.Text.Json;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Tests.Runtime;

namespace VkDiffusion.Tests.Porting;

/// <summary>`vkdiff report` end to end on lavapipe: one JSON file with every part and a Markdown summary that names no path of the machine.</summary>
public sealed class ReportCommandTests : IDisposable
{
    private readonly string root = Path.Combine(Path.GetTempPath(), "vkdiff-report-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public void The_report_holds_devices_selftest_pipelines_bench_and_versions_and_its_summary_no_paths()
    {
        string output = Path.Combine(root, "bug", "report.json");
        var environment = new Dictionary<string, string> { ["VK_DRIVER_FILES"] = GpuFixture.LavapipeIcd, ["VKDIFF_CACHE_DIR"] = Path.Combine(root, "cache") };
        // A tuning result for the report to carry.
        var (exitCode, stdout, stderr) = CliErrorTests.RunVkdiff(environment, "tune", "--model", "tiny", "--seq", "32", "--batch", "2", "--steps", "1",
            "--families", "memory");
        Assert.True(exitCode == ExitCodes.Success, stdout + stderr);
        (exitCode, stdout, stderr) = CliErrorTests.RunVkdiff(environment, "report", "--out", output, "--filter", "rmsnorm", "--vocabulary", "bpe30000");
        Assert.True(exitCode == ExitCodes.Success, stdout + stderr);

        JsonElement report = JsonDocument.Parse(File.ReadAllText(output)).RootElement;
        Assert.Matches(@"^\d+\.\d+\.\d+$", report.GetProperty("vulkanLoader").GetString());
        Assert.False(string.IsNullOrEmpty(report.GetProperty("vkdiff").GetString()));
        Assert.Contains(report.GetProperty("devices").EnumerateArray(), d => d.GetProperty("name").GetString()!.Contains("llvmpipe", StringComparison.Ordinal));

        JsonElement selfTest = report.GetProperty("selftest");
        Assert.Equal(ExitCodes.Success, selfTest.GetProperty("exitCode").GetInt32());
        JsonElement[] cases = [.. selfTest.GetProperty("result").GetProperty("results").EnumerateArray()];
        Assert.NotEmpty(cases);
        Assert.All(cases, c => Assert.True(c.GetProperty("passed").GetBoolean() && c.GetProperty("check").GetString() == "rmsnorm"));

        JsonElement kernels = report.GetProperty("kernels");
        Assert.Equal(ExitCodes.Success, kernels.GetProperty("exitCode").GetInt32());
        JsonElement[] pipelines = [.. kernels.GetProperty("result").GetProperty("pipelines").EnumerateArray()];
        Assert.NotEmpty(pipelines);
        Assert.All(pipelines, p => Assert.StartsWith("rmsnorm", p.GetProperty("kernel").GetString()!, StringComparison.Ordinal));
        // --vocabulary reaches the pipeline build.
        Assert.Contains("bpe30000", kernels.GetProperty("result").GetProperty("vocabularies").EnumerateArray().Select(v => v.GetString()));

        JsonElement bench = report.GetProperty("bench");
        Assert.Equal(ExitCodes.Success, bench.GetProperty("exitCode").GetInt32());
        Assert.NotEmpty(bench.GetProperty("result").GetProperty("cases").EnumerateArray());

        JsonElement tuning = Assert.Single(report.GetProperty("tunerCache").EnumerateArray());
        Assert.Equal(JsonValueKind.Null, tuning.GetProperty("ignored").ValueKind);
        Assert.Equal("mdm-d64-h4x16-ff128-v320-T32-B2-fp32", tuning.GetProperty("cache").GetProperty("entries")[0].GetProperty("shape").GetString());

        string summary = File.ReadAllText(Path.ChangeExtension(output, ".md"));
        Assert.Contains("# vkdiff report", summary);
        Assert.Matches(@"- tuner cache of device 0: mdm-d64-h4x16-ff128-v320-T32-B2-fp32: ", summary);
        Assert.Contains("llvmpipe", summary);
        Assert.Contains($"{cases.Length} of {cases.Length} cases passed", summary);
        Assert.Contains($"{pipelines.Length} of {pipelines.Length} pipelines compiled", summary);
        foreach (string text in new[] { summary, File.ReadAllText(output) })
        {
            Assert.DoesNotContain(root, text);
            Assert.DoesNotContain(Path.GetTempPath(), text);
            Assert.DoesNotContain(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile) + "/", text);
            Assert.DoesNotContain(DriverRun.RepositoryRoot, text);
            Assert.DoesNotMatch($@"\b{Environment.MachineName}\b", text);
        }
    }

    [Fact]
    public void A_part_that_fails_is_reported_with_its_exit_code_and_the_rest_still_written()
    {
        string output = Path.Combine(root, "report.json");
        // A malformed switch fails every part, as a broken driver would: the self-test case by case (exit 8), the others at once (exit 7).
        var (exitCode, stdout, stderr) = CliErrorTests.RunVkdiff(new Dictionary<string, string>
        {
            ["VK_DRIVER_FILES"] = GpuFixture.LavapipeIcd,
            ["VKDIFF_MATMUL"] = "bogus",
        }, "report", "--out", output, "--filter", "matmul");
        Assert.True(exitCode == ExitCodes.Success, stdout + stderr);
        JsonElement report = JsonDocument.Parse(File.ReadAllText(output)).RootElement;
        // The self-test reports every case it could not run as failed; the others refuse the switch.
        Assert.Equal(ExitCodes.SelfTestFailed, report.GetProperty("selftest").GetProperty("exitCode").GetInt32());
        foreach (string part in new[] { "kernels", "bench" })
        {
            Assert.Equal(ExitCodes.InvalidInput, report.GetProperty(part).GetProperty("exitCode").GetInt32());
            Assert.Contains("VKDIFF_MATMUL=bogus", report.GetProperty(part).GetProperty("errors").GetString());
        }
        string summary = File.ReadAllText(Path.ChangeExtension(output, ".md"));
        Assert.Contains("Exit 8", summary);
        Assert.Contains("- FAIL `matmul`", summary);
        Assert.Contains("Exit 7", summary);
        Assert.Contains("VKDIFF_MATMUL=bogus", summary);
    }

    public void Dispose()
    {
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
    }
}
