using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Distributed;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Tests.Runtime;
using VkDiffusion.Tests.Training;

namespace VkDiffusion.Tests.Portability;

/// <summary>Nothing a device does can crash or hang vkdiff: aborts, memory blow-ups, hangs and devices without memory.</summary>
public sealed class DeviceFailureTests
{
    // SwiftShader's JIT aborts the process on the fully unrolled head-dim-128 attention kernels (which VKDIFF_ATTENTION_UNROLL=1
    // forces on it) and grows without bound compiling the texel matmul (VKDIFF_MATMUL=texel): real driver failures.
    [DriverFact("swiftshader")]
    public void Isolated_selftest_reports_a_driver_abort_and_a_memory_blowup_as_failed_families_and_runs_the_rest()
    {
        var (exitCode, output, error) = DriverRun.Vkdiff("swiftshader", new Dictionary<string, string>
        {
            ["VKDIFF_ATTENTION_UNROLL"] = "1",
            ["VKDIFF_MATMUL"] = "texel",
            ["VKDIFF_SELFTEST_MEMORY_MB"] = "1500",
        }, "selftest", "--isolate", "--filter", "attention,matmul,rope");
        Assert.Equal(ExitCodes.SelfTestFailed, exitCode);
        Assert.DoesNotContain("   at ", output + error);
        string[] lines = output.Split('\n');
        string attention = Assert.Single(lines, line => line.StartsWith("FAIL  attention") && line.Contains("crashed after"));
        // The case before the crash ran and passed (head dim 64); the one that aborted is named by what followed it.
        Assert.Contains("head_dim=64", attention);
        Assert.Contains("Local variable exceeds stack size limit", attention);
        string matmul = Assert.Single(lines, line => line.StartsWith("FAIL  matmul") && line.Contains("crashed after"));
        Assert.Contains("used more than 1500 MiB", matmul);
        Assert.Contains(lines, line => line.StartsWith("PASS  rope"));
        Assert.DoesNotContain(lines, line => line.StartsWith("FAIL  rope"));
        Assert.Single(lines, line => line.StartsWith("device: "));
    }

    [Fact]
    public void Isolated_selftest_relays_every_case_of_the_in_process_one()
    {
        var environment = new Dictionary<string, string> { ["VK_DRIVER_FILES"] = GpuFixture.LavapipeIcd };
        var (isolatedExit, isolated, isolatedError) = CliErrorTests.RunVkdiff(environment, "selftest", "--isolate", "--filter", "fill,copy,scale");
        var (plainExit, plain, _) = CliErrorTests.RunVkdiff(environment, "selftest", "--filter", "fill,copy,scale");
        Assert.True(isolatedExit == ExitCodes.Success, isolated + isolatedError);
        Assert.Equal(ExitCodes.Success, plainExit);
        static string[] Cases(string output) => output.Split('\n').Where(line => line.StartsWith("PASS")).Select(line => line[..4] + line[line.IndexOf("  ", 6)..])
            .Select(line => System.Text.RegularExpressions.Regex.Replace(line, @"max error +\S+", "")).ToArray();
        Assert.Equal(Cases(plain), Cases(isolated));
        Assert.NotEmpty(Cases(plain));
    }

    [Fact]
    public async Task A_submission_past_the_fence_deadline_ends_the_run_naming_its_kernels_and_keeps_the_checkpoint()
    {
        using var root = new TemporaryDirectory();
        string data = TrainingRunTests.PrepareCorpus(root.Path);
        string run = root.File("run");
        // A run long enough to stop part-way (SIGTERM saves it), so the resumed one has steps left to submit.
        using (var worker = VkdiffWorker.Start(null, "train", "--data", data, "--model", "tiny", "--objective", "ar", "--unique-tokens", "2400",
            "--epochs", "20", "--seq-len", "32", "--batch", "4", "--out", run))
        {
            await worker.LineStartingWith("step ").WaitAsync(TimeSpan.FromMinutes(3));
            worker.Signal("TERM");
            var (stopExit, stopOutput, stopError) = worker.WaitForExit();
            Assert.True(stopExit == ExitCodes.Interrupted, stopOutput + stopError);
        }
        string checkpoint = Path.Combine(run, "checkpoints", "last.safetensors");
        byte[] saved = File.ReadAllBytes(checkpoint);

        // A microsecond: no training step's submission finishes in time.
        var (exitCode, output, error) = VkdiffWorker.Run(new Dictionary<string, string> { [GpuContext.FenceTimeoutVariable] = "0.000001" },
            "train", "--resume", run);
        Assert.Equal(ExitCodes.DeviceLost, exitCode);
        string message = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries), line => line.StartsWith("vkdiff: "));
        Assert.Contains("did not finish a submission within", message);
        Assert.Contains(GpuContext.FenceTimeoutVariable, message);
        Assert.Matches("running [a-z_0-9]+(, [a-z_0-9]+)*", message);
        Assert.DoesNotContain("   at ", output + error);
        Assert.Equal(saved, File.ReadAllBytes(checkpoint));
    }

    [DriverFact("radv22-navi21")]
    public void A_device_without_memory_is_listed_and_refused_for_work_in_one_line()
    {
        using var root = new TemporaryDirectory();
        var (listExit, list, _) = DriverRun.Vkdiff("radv22-navi21", "devices");
        Assert.Equal(ExitCodes.Success, listExit);
        Assert.Contains("Null hardware (RADV NAVI21)", list);
        string data = TrainingRunTests.PrepareCorpus(root.Path);
        var (exitCode, output, error) = DriverRun.Vkdiff("radv22-navi21", "train", "--data", data, "--model", "tiny", "--objective", "ar",
            "--unique-tokens", "2400", "--epochs", "1", "--seq-len", "32", "--batch", "4", "--out", root.File("run"));
        Assert.Equal(ExitCodes.InvalidInput, exitCode);
        string message = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries), line => line.StartsWith("vkdiff: "));
        Assert.Contains("cannot hold vkdiff's tensors: it has no memory type with a non-empty heap", message);
        Assert.DoesNotContain("   at ", output + error);
    }
}
