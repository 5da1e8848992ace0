using System.Text.Json;
using VkDiffusion.Cli.Commands;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.SelfTest;
using VkDiffusion.Runtime.SelfTest.Checks;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

public sealed class SelfTestTests(GpuFixture fixture) : GpuTest(fixture)
{
    // One check per kernel family: every family with a kernel wrapper in Runtime/Kernels must be here.
    private static readonly string[] RegisteredInThisBranch =
    [
        "adamw", "add", "attention", "copy", "cross_entropy", "dropout", "embedding", "fill", "grad_norm", "loss_scale", "matmul", "mdm_corrupt", "mul",
        "reduce_sum", "rmsnorm", "rope", "scale", "swiglu",
    ];

    /// <summary>Runs the real scale kernel but compares it with a reference that scales by 3 instead of 2: must fail.</summary>
    private sealed class WrongReferenceCheck : ISelfTestCheck
    {
        public string Name => "wrong_reference";

        public IEnumerable<SelfTestResult> Run(GpuContext context)
        {
            float[] x = SelfTestMeasure.Uniform(33, seed: 1);
            using GpuBuffer input = context.Upload<float>(x, "x"), output = context.Allocate<float>(33, "y");
            context.Execute(c => BasicKernels.Scale(c, input.Whole, output.Whole, 2f));
            yield return new SelfTestResult(Name, "count=33", SelfTestMeasure.NormwiseRelativeError(context.Download<float>(output), BasicReference.Scale(x, 3f)), 1e-6);
        }
    }

    private sealed class ThrowingCheck : ISelfTestCheck
    {
        public string Name => "throws";

        public IEnumerable<SelfTestResult> Run(GpuContext context)
        {
            yield return new SelfTestResult(Name, "before", 0, 0);
            throw new InvalidOperationException("kernel exploded");
        }
    }

    [Fact]
    public void Discovery_registers_every_kernel_family_of_this_branch_once()
    {
        var names = SelfTestSuite.Discover().Checks.Select(check => check.Name).ToList();
        // Other kernel families add their checks beside these; every one of this branch must be there.
        Assert.Subset(RegisteredInThisBranch.ToHashSet(), names.ToHashSet());
        Assert.Equal(names.Distinct().Count(), names.Count);
        Assert.Equal(names.Order(StringComparer.Ordinal), names);
    }

    [Fact]
    public void A_wrong_reference_and_a_throwing_check_fail_the_suite_while_a_good_check_passes()
    {
        var suite = new SelfTestSuite([new WrongReferenceCheck(), new ThrowingCheck(), new FillCheck()]);
        SelfTestReport report = suite.Run(Context);
        Assert.False(report.Passed);
        // scale by 2 vs 3: |2x - 3x| / max|3x| = 1/3 exactly, far above 1e-6.
        SelfTestResult wrong = Assert.Single(report.Results, r => r.Check == "wrong_reference");
        Assert.False(wrong.Passed);
        Assert.Equal(1.0 / 3, wrong.MaxError, 1e-6);
        Assert.Contains(report.Results, r => r is { Check: "throws", Case: "before", Passed: true });
        SelfTestResult thrown = Assert.Single(report.Results, r => r.Check == "throws" && !r.Passed);
        Assert.Contains("kernel exploded", thrown.Failure);
        Assert.All(report.Results.Where(r => r.Check == "fill"), r => Assert.True(r.Passed));
        Assert.Equal(2, report.FailedCount);
    }

    [Fact]
    public void The_command_prints_a_line_per_case_and_exits_with_the_self_test_code_on_failure()
    {
        var output = new StringWriter();
        int exitCode = new SelfTestCommand().Execute(Context, new SelfTestSuite([new FillCheck(), new WrongReferenceCheck()]), output);
        Assert.Equal(ExitCodes.SelfTestFailed, exitCode);
        string text = output.ToString();
        Assert.Contains("FAIL  wrong_reference", text);
        Assert.Equal(4, text.Split('\n').Count(line => line.StartsWith("PASS  fill")));
        Assert.Contains("selftest FAILED: 1 of 5 cases failed", text);

        var passing = new StringWriter();
        Assert.Equal(ExitCodes.Success, new SelfTestCommand().Execute(Context, new SelfTestSuite([new FillCheck()]), passing));
        Assert.Contains("selftest passed: 4 cases", passing.ToString());
    }

    [Fact]
    public void A_nan_error_or_a_failure_message_never_passes()
    {
        Assert.False(new SelfTestResult("x", "nan", double.NaN, 1).Passed);
        Assert.False(SelfTestResult.Failed("x", "(exception)", "boom").Passed);
        Assert.True(new SelfTestResult("x", "exact", 0, 0).Passed);
        Assert.True(double.IsNaN(SelfTestMeasure.NormwiseRelativeError([float.NaN], [1.0])));
    }

    [Fact]
    public void The_cross_entropy_check_runs_every_lane_count_any_vocabulary_gets_on_the_device()
    {
        // On a CPU device a row of V logits gets the fewest lanes, a power of two up to 256, that leave each at most 64.
        static int Lanes(int vocabSize)
        {
            int lanes = 1;
            while (lanes < 256 && lanes * 64 < vocabSize) lanes *= 2;
            return lanes;
        }
        var results = new CrossEntropyCheck().Run(Context).ToList();
        Assert.All(results, result => Assert.True(result.Passed, result.ToString()));
        var tested = results.Select(result => int.Parse(result.Case[(result.Case.IndexOf("vocab=", StringComparison.Ordinal) + 6)..])).ToHashSet();
        // Bytes (258 and its 320-row table), GPT-2 (50304) and every learned BPE's table, bpe258 to bpe65535.
        var needed = Enumerable.Range(258, 65535 - 258 + 1).Select(size => (size + 1 + 63) / 64 * 64).Append(258).Append(50304).Select(Lanes).ToHashSet();
        Assert.Equal(needed.Order(), tested.Select(Lanes).Distinct().Order());
    }

    [Theory]
    [InlineData("128")]   // lavapipe subgroup size 4
    [InlineData("512")]   // lavapipe subgroup size 16 (the default 256 bits gives 8, the suite's own device)
    public void The_reductions_pass_at_other_subgroup_sizes(string vectorWidth)
    {
        var (exitCode, output, error) = CliErrorTests.RunVkdiff(new Dictionary<string, string>
        {
            ["VK_DRIVER_FILES"] = GpuFixture.LavapipeIcd,
            ["LP_NATIVE_VECTOR_WIDTH"] = vectorWidth,
        }, "selftest", "--filter", "cross_entropy,grad_norm,reduce_sum");
        Assert.True(exitCode == ExitCodes.Success, $"exit {exitCode}\n{output}\n{error}");
        Assert.Contains($"subgroup {int.Parse(vectorWidth) / 32} ", output);
        Assert.Contains("PASS  cross_entropy", output);
        Assert.Contains("PASS  grad_norm", output);
        Assert.DoesNotContain("FAIL", output);
    }

    [Fact]
    public void Vkdiff_selftest_passes_on_lavapipe_with_validation_and_reports_json()
    {
        var environment = new Dictionary<string, string>
        {
            ["VK_DRIVER_FILES"] = GpuFixture.LavapipeIcd,
            ["VKDIFF_VALIDATION"] = "1",
        };
        var (exitCode, output, error) = CliErrorTests.RunVkdiff(environment, "selftest", "--json");
        Assert.True(exitCode == ExitCodes.Success, $"exit {exitCode}\n{output}\n{error}");
        using JsonDocument report = JsonDocument.Parse(output);
        Assert.True(report.RootElement.GetProperty("passed").GetBoolean());
        Assert.True(report.RootElement.GetProperty("validation").GetBoolean());
        var checks = report.RootElement.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("check").GetString()).ToHashSet();
        Assert.Subset(RegisteredInThisBranch.ToHashSet(), checks!);

        var (unknownExit, _, unknownError) = CliErrorTests.RunVkdiff(environment, "selftest", "--filter", "no_such_check");
        Assert.Equal(ExitCodes.InvalidInput, unknownExit);
        Assert.Contains("cross_entropy", unknownError);
    }
}
