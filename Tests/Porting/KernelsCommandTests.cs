using System.Text.Json;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Tests.Runtime;

namespace VkDiffusion.Tests.Porting;

/// <summary>
/// `vkdiff kernels` in a child process: on lavapipe and on AMD's compiler through RADV's null hardware (RDNA2, and RDNA3 with
/// its cooperative-matrix shape), every pipeline vkdiff would use compiles, with the driver's statistics where it offers them.
/// </summary>
public sealed class KernelsCommandTests
{
    // lavapipe as installed: without the cooperative-matrix emulation layer scripts/test.sh adds to the suite.
    private static readonly Dictionary<string, string> Lavapipe = new() { ["VK_DRIVER_FILES"] = GpuFixture.LavapipeIcd, ["VKDIFF_LAYERS"] = "" };

    [Fact]
    public void Every_pipeline_compiles_on_lavapipe_and_the_list_covers_every_head_dim_and_precision()
    {
        var (exitCode, output, error) = CliErrorTests.RunVkdiff(Lavapipe, "kernels", "--json");
        Assert.True(exitCode == ExitCodes.Success, output + error);
        JsonElement report = JsonDocument.Parse(output).RootElement;
        JsonElement[] pipelines = AssertEveryPipelineCompiled(report);
        // lavapipe binds at most 128 MiB, less than the GPT-2 embedding table of the presets from 117M up: the ops that bind it
        // go in runs, so every configuration records.
        Assert.Empty(report.GetProperty("notRecordable").EnumerateArray());
        string[] kernels = [.. pipelines.Select(p => p.GetProperty("kernel").GetString()!)];
        // lavapipe's own choices: texel matmuls, register-blocked attention (8 rows, 4 at head dim 128), CPU-style memory-bound kernels.
        Assert.Contains(kernels, k => k.StartsWith("matmul_texel", StringComparison.Ordinal));
        foreach (string attention in new[] { "attention_fwd_rows8_d16", "attention_fwd_rows8_d32", "attention_fwd_rows8_d64", "attention_fwd_rows4_d128",
            "attention_bwd_rows4_d128", "attention_bwd_dq_rows4_d128" })
            Assert.Contains(attention, kernels);
        // Under mixed precision the texel-buffer attention of CPU devices still reads fp32 qkv (there are no 16-bit texels).
        Assert.DoesNotContain(kernels, k => k.StartsWith("attention_", StringComparison.Ordinal) && (k.EndsWith("_f16", StringComparison.Ordinal) || k.EndsWith("_bf16", StringComparison.Ordinal)));
        // Forced paths are built too, with their 16-bit variants.
        Assert.Contains("matmul_simple", kernels);
        Assert.Contains("matmul_tiled8x8_bf16", kernels);
        foreach (string family in new[] { "cross_entropy", "adamw", "rmsnorm", "rope", "swiglu", "embedding", "mdm_corrupt", "cast_f16_loss_scaled", "grad_norm" })
            Assert.Contains(kernels, k => k.StartsWith(family, StringComparison.Ordinal));
        Assert.All(pipelines, p => Assert.NotEmpty(p.GetProperty("usedBy").GetProperty("presets").EnumerateArray()));

        // Any vocabulary `prepare` can make gets its cross-entropy pipelines built: on a CPU device a row of logits (the
        // table padded to a multiple of 64 rows) gets the fewest lanes, a power of two, that leave each at most 64 logits.
        string[] names = [.. pipelines.Select(p => p.GetProperty("pipeline").GetString()!)];
        foreach (int textIds in new[] { 258, 300, 700, 1024, 1500, 3000, 4000, 6000, 20000, 50257, 65535 })
        {
            int paddedRows = (textIds + 1 + 63) / 64 * 64, lanes = 1;
            while (lanes < 256 && lanes * 64 < paddedRows) lanes *= 2;
            Assert.Contains($"cross_entropy_fused<256,{lanes}>", names);
            Assert.Contains($"cross_entropy_forward<256,{lanes}>", names);
        }
    }

    [Fact]
    public void A_filter_builds_only_matching_kernels_and_one_matching_nothing_is_refused()
    {
        var (exitCode, output, error) = CliErrorTests.RunVkdiff(Lavapipe, "kernels", "--filter", "adamw,cross_entropy");
        Assert.True(exitCode == ExitCodes.Success, output + error);
        string[] rows = [.. output.Split('\n').Where(line => line.Contains(" ok ", StringComparison.Ordinal))];
        Assert.NotEmpty(rows);
        Assert.All(rows, row => Assert.True(row.StartsWith("adamw", StringComparison.Ordinal) || row.StartsWith("cross_entropy", StringComparison.Ordinal), row));
        Assert.Matches(@"kernels: all \d+ pipelines compiled", output);

        var (refused, _, message) = CliErrorTests.RunVkdiff(Lavapipe, "kernels", "--filter", "no_such_kernel");
        Assert.Equal(ExitCodes.InvalidInput, refused);
        Assert.Contains("matches none", message);
        Assert.DoesNotContain("   at ", message);
    }

    [Fact]
    public void A_vocabulary_asked_for_is_recorded_too_and_an_unknown_one_is_refused()
    {
        var (exitCode, output, error) = CliErrorTests.RunVkdiff(Lavapipe, "kernels", "--vocabulary", "bpe30000", "--filter", "cross_entropy_fused", "--json");
        Assert.True(exitCode == ExitCodes.Success, output + error);
        JsonElement report = JsonDocument.Parse(output).RootElement;
        Assert.Contains("bpe30000", report.GetProperty("vocabularies").EnumerateArray().Select(v => v.GetString()));
        // 30,000 text ids and MASK pad to 30,016 rows: more than 64 logits for each of 256 lanes, so GPT-2's 256-lane kernel.
        JsonElement pipeline = Assert.Single(report.GetProperty("pipelines").EnumerateArray(),
            p => p.GetProperty("usedBy").GetProperty("vocabularies").EnumerateArray().Any(v => v.GetString() == "bpe30000"));
        Assert.Equal("cross_entropy_fused<256,256>", pipeline.GetProperty("pipeline").GetString());

        var (refused, _, message) = CliErrorTests.RunVkdiff(Lavapipe, "kernels", "--vocabulary", "bpe99");
        Assert.Equal(ExitCodes.InvalidInput, refused);
        Assert.Contains("unknown vocabulary 'bpe99'", message);
        Assert.DoesNotContain("   at ", message);
    }

    [DriverFact("radv-navi21")]
    public void Every_pipeline_compiles_on_rdna2_null_hardware_with_amd_statistics()
    {
        JsonElement report = RunOnDriver("radv-navi21");
        JsonElement[] pipelines = AssertEveryPipelineCompiled(report);
        Assert.Contains("navi21", report.GetProperty("device").GetProperty("name").GetString()!, StringComparison.OrdinalIgnoreCase);
        AssertAmdStatistics(pipelines);
        string[] kernels = [.. pipelines.Select(p => p.GetProperty("kernel").GetString()!)];
        // A GPU's choices: shared-memory matmul tiles, one-row-per-invocation attention at head dims 16 and 32 and split rows
        // at 64 and 128.
        Assert.Contains("matmul_tiled8x8", kernels);
        Assert.Contains("attention_fwd_d32", kernels);
        Assert.Contains("attention_bwd_d128_split", kernels);
        Assert.Contains("attention_fwd_d64_split", kernels);
        Assert.DoesNotContain("attention_bwd_d128", kernels);
        Assert.DoesNotContain(kernels, k => k.Contains("coopmat", StringComparison.Ordinal));
        // RDNA runs waves of 32 or 64, both wider than a row's 8 lanes: the split kernels (subgroup shuffles) need no required
        // size, and fit its registers: no spills, no scratch.
        JsonElement[] split = [.. pipelines.Where(p => p.GetProperty("kernel").GetString()!.Contains("_split", StringComparison.Ordinal)
            && p.GetProperty("kernel").GetString()!.StartsWith("attention_", StringComparison.Ordinal))];
        Assert.Equal(18, split.Select(p => p.GetProperty("kernel").GetString()).Distinct().Count());
        Assert.All(split, p =>
        {
            Assert.Equal(JsonValueKind.Null, p.GetProperty("requiredSubgroupSize").ValueKind);
            Assert.Equal(0.0, Statistic(p, "Spilled VGPRs"));
            Assert.Equal(0.0, Statistic(p, "Scratch size"));
        });
    }

    private static double Statistic(JsonElement pipeline, string name) =>
        pipeline.GetProperty("executables")[0].GetProperty("statistics").EnumerateArray()
            .First(s => s.GetProperty("name").GetString() == name).GetProperty("value").GetDouble();

    [DriverFact("radv-navi31")]
    public void Every_pipeline_compiles_on_rdna3_null_hardware_cooperative_matrices_included()
    {
        JsonElement report = RunOnDriver("radv-navi31");
        JsonElement[] pipelines = AssertEveryPipelineCompiled(report);
        AssertAmdStatistics(pipelines);
        JsonElement[] cooperative = [.. pipelines.Where(p => p.GetProperty("kernel").GetString()!.Contains("coopmat", StringComparison.Ordinal))];
        string[] names = [.. cooperative.Select(p => p.GetProperty("kernel").GetString()!)];
        Assert.Contains("matmul_coopmat_f16_16x16x16", names);
        Assert.Contains(names, n => n.StartsWith("attention_fwd_coopmat_d64_16x16x16", StringComparison.Ordinal));
        // RDNA3 runs waves of 32 or 64: cooperative-matrix pipelines are created at the size its shapes are listed at.
        uint subgroup = report.GetProperty("device").GetProperty("subgroupSize").GetUInt32();
        Assert.All(cooperative, p => Assert.Equal(subgroup, p.GetProperty("requiredSubgroupSize").GetUInt32()));
        // fp16 on a GPU that lists a shape goes to the matrix units by default.
        Assert.Contains(cooperative, p => p.GetProperty("usedBy").GetProperty("matmulPaths").EnumerateArray().Any(path => path.GetString() == "default"));
    }

    [DriverFact("swiftshader")]
    public void On_swiftshader_a_pipeline_whose_build_ends_the_driver_is_reported_and_a_fresh_child_builds_the_next()
    {
        // SwiftShader's JIT aborts the process building the fully unrolled head-dim-128 attention forward ("Local variable
        // exceeds stack size limit"); its profile takes the rolled variant, so VKDIFF_ATTENTION_UNROLL=1 forces the
        // unrolled one. rmsnorm_fwd sorts after it, so a new child must build it.
        var (exitCode, output, error) = DriverRun.Vkdiff("swiftshader", new Dictionary<string, string> { ["VKDIFF_ATTENTION_UNROLL"] = "1" },
            "kernels", "--json", "--filter", "attention_fwd_d128,rmsnorm_fwd");
        Assert.True(exitCode == ExitCodes.SelfTestFailed, $"exit {exitCode}\n{error}");
        JsonElement[] pipelines = [.. JsonDocument.Parse(output).RootElement.GetProperty("pipelines").EnumerateArray()];
        Assert.Contains(pipelines, p => p.GetProperty("kernel").GetString() == "rmsnorm_fwd" && p.GetProperty("compiled").GetBoolean());
        JsonElement[] failed = [.. pipelines.Where(p => !p.GetProperty("compiled").GetBoolean())];
        Assert.NotEmpty(failed);
        Assert.All(failed, p =>
        {
            Assert.Equal("attention_fwd_d128", p.GetProperty("kernel").GetString());
            Assert.Contains("the driver ended the process building it (exit code 1): LLVM ERROR", p.GetProperty("error").GetString());
        });
    }

    private static JsonElement RunOnDriver(string implementation)
    {
        var (exitCode, output, error) = DriverRun.Vkdiff(implementation, "kernels", "--json");
        Assert.True(exitCode == ExitCodes.Success, $"exit {exitCode}\n{error}\n{output[..Math.Min(output.Length, 4000)]}");
        JsonElement report = JsonDocument.Parse(output).RootElement;
        Assert.True(report.GetProperty("statisticsOffered").GetBoolean());
        // A 4 GiB binding range holds every preset's tensors.
        Assert.Empty(report.GetProperty("notRecordable").EnumerateArray());
        return report;
    }

    private static JsonElement[] AssertEveryPipelineCompiled(JsonElement report)
    {
        JsonElement[] pipelines = [.. report.GetProperty("pipelines").EnumerateArray()];
        Assert.True(pipelines.Length > 50, $"only {pipelines.Length} pipelines");
        Assert.Equal(0, report.GetProperty("failed").GetInt32());
        Assert.All(pipelines, p => Assert.True(p.GetProperty("compiled").GetBoolean(), p.GetProperty("pipeline") + ": " + p.GetProperty("error")));
        return pipelines;
    }

    // RADV reports registers, spills and occupancy for every pipeline, as it names them.
    private static void AssertAmdStatistics(JsonElement[] pipelines)
    {
        foreach (JsonElement pipeline in pipelines)
        {
            string[] names = [.. pipeline.GetProperty("executables")[0].GetProperty("statistics").EnumerateArray().Select(s => s.GetProperty("name").GetString()!)];
            foreach (string statistic in new[] { "VGPRs", "SGPRs", "Spilled VGPRs", "Scratch size", "Subgroups per SIMD" })
                Assert.Contains(statistic, names);
        }
    }
}
