using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.SelfTest;
using VkDiffusion.Runtime.SelfTest.Checks;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

public sealed class FastPathGateTests(GpuFixture fixture) : GpuTest(fixture)
{
    // A check that reports one case outside its tolerance, as a miscompiled kernel would, and counts its runs.
    private sealed class FailingCheck(string name = "matmul", string failingCase = "forward M=64 K=64 N=64 (coopmat 8x8x8)") : ISelfTestCheck
    {
        public int Runs { get; private set; }
        public string Name => name;

        public IEnumerable<SelfTestResult> Run(GpuContext context)
        {
            Runs++;
            yield return new SelfTestResult(Name, failingCase, MaxError: 0.5, Tolerance: 1e-3);
        }
    }

    [Fact]
    public void A_failing_cooperative_matrix_matmul_is_refused_naming_the_switch()
    {
        var check = new FailingCheck();
        using (MatmulKernels.Override(MatmulPath.CooperativeMatrix))
        {
            var error = Assert.Throws<InvalidInputException>(() => FastPathGate.RequireWorkingMatmul(Context, Precision.Fp32, check));
            Assert.Contains("set VKDIFF_MATMUL=tiled", error.Message);
            Assert.Contains("forward M=64 K=64 N=64 (coopmat 8x8x8)", error.Message);
        }
        Assert.Equal(1, check.Runs);
    }

    [Fact]
    public void The_fp32_paths_are_not_gated()
    {
        var check = new FailingCheck();
        using (MatmulKernels.Override(MatmulPath.RegisterBlockedTexels))
            FastPathGate.RequireWorkingMatmul(Context, Precision.Fp32, check);
        Assert.Equal(0, check.Runs);
    }

    [Fact]
    public void A_failing_cooperative_matrix_attention_is_refused_naming_its_switch()
    {
        var check = new FailingCheck("attention", "output T=33 head_dim=16 batch=2 heads=1 bidirectional (coopmat 8x8x8)");
        using (AttentionKernels.Override(AttentionPath.CooperativeMatrix))
        {
            var error = Assert.Throws<InvalidInputException>(() => FastPathGate.RequireWorkingAttention(Context, check));
            Assert.StartsWith("VKDIFF_ATTENTION=coopmat: the cooperative-matrix attention fails its self-test", error.Message);
            Assert.Contains("unset VKDIFF_ATTENTION", error.Message);
            Assert.Contains("output T=33 head_dim=16 batch=2 heads=1 bidirectional (coopmat 8x8x8)", error.Message);
        }
        Assert.Equal(1, check.Runs);
        using (AttentionKernels.Override(AttentionPath.Fp32))
            FastPathGate.RequireWorkingAttention(Context, check);
        Assert.Equal(1, check.Runs);
    }

    // The attention self-test on the cooperative-matrix path runs in CooperativeMatrixAttentionTests (16x16x16) and in
    // the whole self-test; compiling all its head dims a second time here would double the suite's share of it.
    [Fact, Trait("Category", "CooperativeMatrix")]
    public void A_working_cooperative_matrix_matmul_passes_the_gate()
    {
        using (MatmulKernels.Override(MatmulPath.CooperativeMatrix))
            FastPathGate.RequireWorkingMatmul(Context, Precision.Fp16, new MatmulCheck(Precision.Fp16));
    }
}
