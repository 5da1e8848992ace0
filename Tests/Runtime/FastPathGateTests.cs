using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.SelfTest;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

public sealed class FastPathGateTests(GpuFixture fixture) : GpuTest(fixture)
{
    // A check that reports one case outside its tolerance, as a miscompiled kernel would, and counts its runs.
    private sealed class FailingCheck : ISelfTestCheck
    {
        public int Runs { get; private set; }
        public string Name => "matmul";

        public IEnumerable<SelfTestResult> Run(GpuContext context)
        {
            Runs++;
            yield return new SelfTestResult(Name, "forward M=64 K=64 N=64 (coopmat 8x8x8)", MaxError: 0.5, Tolerance: 1e-3);
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

    [Fact, Trait("Category", "CooperativeMatrix")]
    public void A_working_cooperative_matrix_matmul_passes_the_gate()
    {
        using (MatmulKernels.Override(MatmulPath.CooperativeMatrix))
            FastPathGate.RequireWorkingMatmul(Context, Precision.Fp16);
    }
}
