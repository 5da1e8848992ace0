using System.Text.Json;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Distributed;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Tests.Runtime;
using VkDiffusion.Trainer.Tuning;

namespace VkDiffusion.Tests.Tuning;

/// <summary>`vkdiff tune` end to end on lavapipe: children time the candidates, one that crashes is dropped, and `bench step` uses the cache.</summary>
public sealed class TuneCommandTests : IDisposable
{
    private readonly string cacheDirectory = Path.Combine(Path.GetTempPath(), "vkdiff-tune-" + Guid.NewGuid().ToString("N"));

    private Dictionary<string, string> Environment(params (string Name, string Value)[] more)
    {
        var environment = new Dictionary<string, string> { ["VK_DRIVER_FILES"] = GpuFixture.LavapipeIcd, ["VKDIFF_CACHE_DIR"] = cacheDirectory };
        foreach (var (name, value) in more) environment[name] = value;
        return environment;
    }

    private static readonly string[] TinyShape = ["--model", "tiny", "--seq", "32", "--batch", "2", "--steps", "1"];

    [Fact]
    public void A_candidate_that_crashes_its_child_is_dropped_the_cache_is_written_and_bench_step_says_it_uses_it()
    {
        var (exitCode, output, error) = CliErrorTests.RunVkdiff(Environment(("VKDIFF_TUNE_FAULT", "VKDIFF_KERNEL_STYLE=gpu")),
            ["tune", .. TinyShape, "--families", "memory,matmul"]);
        Assert.True(exitCode == ExitCodes.Success, output + error);
        Assert.Contains("VKDIFF_KERNEL_STYLE=gpu", output);
        Assert.Matches(@"VKDIFF_KERNEL_STYLE=gpu[^\n]*FAILED: its child ended with SIGABRT[^\n]*simulated driver crash", output);
        Assert.Contains("1 candidate(s) failed and were dropped", output);

        string file = Assert.Single(Directory.GetFiles(cacheDirectory, "tuning-*.json"));
        JsonElement entry = JsonDocument.Parse(File.ReadAllText(file)).RootElement.GetProperty("entries")[0];
        Assert.True(entry.GetProperty("complete").GetBoolean());
        Assert.Equal(["matmul", "memory"], entry.GetProperty("families_done").EnumerateArray().Select(f => f.GetString()));
        JsonElement[] trials = [.. entry.GetProperty("trials").EnumerateArray()];
        JsonElement crashed = Assert.Single(trials, t => t.GetProperty("error").ValueKind == JsonValueKind.String);
        Assert.Equal("gpu", crashed.GetProperty("settings").GetProperty("VKDIFF_KERNEL_STYLE").GetString());
        // Every other candidate was timed: the matmul paths lavapipe does not default to, and split-K.
        string[] timed = [.. trials.Where(t => t.GetProperty("milliseconds").ValueKind == JsonValueKind.Number)
            .SelectMany(t => t.GetProperty("settings").EnumerateObject().Select(s => $"{s.Name}={s.Value.GetString()}"))];
        Assert.Contains("VKDIFF_MATMUL=register", timed);
        Assert.Contains("VKDIFF_MATMUL=tiled", timed);
        Assert.Contains("VKDIFF_SPLIT_K=off", timed);
        Assert.Empty(Directory.GetFiles(cacheDirectory, "*.tmp"));

        (exitCode, output, error) = CliErrorTests.RunVkdiff(Environment(), ["bench", "step", .. TinyShape]);
        Assert.True(exitCode == ExitCodes.Success, output + error);
        string settings = entry.GetProperty("settings").EnumerateObject().Any()
            ? "kernels: tuned by `vkdiff tune` on " : "kernels: defaults (`vkdiff tune` on ";
        Assert.Contains(settings, output);

        (exitCode, output, error) = CliErrorTests.RunVkdiff(Environment((TunedKernels.Variable, "off")), ["bench", "step", .. TinyShape]);
        Assert.True(exitCode == ExitCodes.Success, output + error);
        Assert.Contains("kernels: defaults (VKDIFF_TUNING=off)", output);
    }

    [Fact]
    public void A_tuned_setting_in_the_cache_is_what_bench_step_runs()
    {
        // Tune the memory family only, with the CPU layout's competitor made to crash: the defaults stay, and the cache
        // is then edited the way a tuning that found register matmuls faster would have written it.
        var (exitCode, output, error) = CliErrorTests.RunVkdiff(Environment(("VKDIFF_TUNE_FAULT", "VKDIFF_KERNEL_STYLE=gpu")),
            ["tune", .. TinyShape, "--families", "memory"]);
        Assert.True(exitCode == ExitCodes.Success, output + error);
        string file = Assert.Single(Directory.GetFiles(cacheDirectory, "tuning-*.json"));
        string json = File.ReadAllText(file);
        Assert.Contains("\"settings\": {},", json);
        File.WriteAllText(file, json.Replace("\"settings\": {},", "\"settings\": { \"VKDIFF_MATMUL\": \"register\" },"));

        (exitCode, output, error) = CliErrorTests.RunVkdiff(Environment(), ["bench", "step", .. TinyShape]);
        Assert.True(exitCode == ExitCodes.Success, output + error);
        Assert.Contains("kernels: tuned by `vkdiff tune` on ", output);
        Assert.Contains("(matmul path register)", output);
    }

    [Fact]
    public async Task Interrupted_after_a_family_the_cache_keeps_it_and_the_same_command_continues_from_it()
    {
        string[] tune = ["tune", .. TinyShape, "--families", "matmul,attention"];
        using (var worker = VkdiffWorker.Start(Environment(), tune))
        {
            // The attention family's first trial means the matmul family is finished and saved; attention has more
            // candidates on lavapipe, so the stop comes in the middle of it.
            await worker.Line(line => line.StartsWith('[') && line.Contains("] attention ", StringComparison.Ordinal)).WaitAsync(TimeSpan.FromMinutes(3));
            // SIGTERM, which vkdiff takes as Ctrl-C: a shell starts background jobs with SIGINT ignored, and CI may be one.
            worker.Signal("TERM");
            var (exitCode, output, error) = worker.WaitForExit();
            Assert.True(exitCode == ExitCodes.Interrupted, output + error);
            Assert.Contains("tune: interrupted; ", output);
            Assert.Contains("keeps the finished families (matmul", output);
            Assert.DoesNotContain("   at ", output + error);
        }
        string file = Assert.Single(Directory.GetFiles(cacheDirectory, "tuning-*.json"));
        JsonElement entry = JsonDocument.Parse(File.ReadAllText(file)).RootElement.GetProperty("entries")[0];
        Assert.False(entry.GetProperty("complete").GetBoolean());
        Assert.Equal(["matmul"], entry.GetProperty("families_done").EnumerateArray().Select(f => f.GetString()));
        Assert.Empty(Directory.GetFiles(cacheDirectory, "*.tmp"));

        var (resumedExit, resumed, resumedError) = CliErrorTests.RunVkdiff(Environment(), tune);
        Assert.True(resumedExit == ExitCodes.Success, resumed + resumedError);
        Assert.Contains("tune: continuing the interrupted tuning after matmul", resumed);
        // The matmul candidates were not timed again.
        Assert.DoesNotContain("] matmul ", resumed);
        entry = JsonDocument.Parse(File.ReadAllText(file)).RootElement.GetProperty("entries")[0];
        Assert.True(entry.GetProperty("complete").GetBoolean());
        Assert.Equal(["matmul", "attention"], entry.GetProperty("families_done").EnumerateArray().Select(f => f.GetString()));
    }

    // A candidate that really misbehaves: SwiftShader's JIT grows without bound compiling the texel matmul (docs/portability.md),
    // so its child passes the memory cap, is ended and dropped, and the tuning finishes on the other candidates.
    [DriverFact("swiftshader")]
    public void On_SwiftShader_the_texel_matmul_candidate_is_ended_at_the_memory_cap_and_the_tuning_finishes()
    {
        var (exitCode, output, error) = DriverRun.Vkdiff("swiftshader", new Dictionary<string, string> { ["VKDIFF_CACHE_DIR"] = cacheDirectory },
            ["tune", .. TinyShape, "--families", "matmul", "--memory-cap", "1024", "--timeout", "300"]);
        Assert.True(exitCode == ExitCodes.Success, output + error);
        Assert.Matches(@"VKDIFF_MATMUL=texel\s+FAILED: used more than 1024 MiB of memory \(--memory-cap\)", output);
        Assert.Matches(@"VKDIFF_MATMUL=tiled\s+[0-9.]+ ms/step", output);
        Assert.Contains("tune: wrote ", output);
    }

    [Fact]
    public void Unknown_families_are_a_usage_error()
    {
        var (exitCode, _, error) = CliErrorTests.RunVkdiff(Environment(), ["tune", .. TinyShape, "--families", "matmul,softmax"]);
        Assert.Equal(ExitCodes.Usage, exitCode);
        Assert.Contains("--families takes matmul, attention, memory", error);
        Assert.DoesNotContain("   at ", error);
    }

    public void Dispose()
    {
        if (Directory.Exists(cacheDirectory)) Directory.Delete(cacheDirectory, recursive: true);
    }
}
