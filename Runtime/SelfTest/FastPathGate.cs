using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.SelfTest.Checks;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.SelfTest;

/// <summary>
/// Checks the fast paths before a long job commits to them. The cooperative-matrix matmul and attention run on drivers we
/// could not all test, so training on either first runs its self-test cases (small problems, well under a second on a
/// GPU) and refuses with the switch that turns it off when one fails, rather than training on wrong results.
/// </summary>
public static class FastPathGate
{
    public static void RequireWorkingFastPaths(GpuContext context)
    {
        RequireWorkingMatmul(context, new MatmulCheck());
        RequireWorkingAttention(context, new AttentionCheck());
    }

    internal static void RequireWorkingMatmul(GpuContext context, ISelfTestCheck check)
    {
        if (MatmulKernels.ChoosePath(context.Info) == MatmulPath.CooperativeMatrix)
            Require(context, check, "the cooperative-matrix matmul", MatmulKernels.PathVariable);
    }

    internal static void RequireWorkingAttention(GpuContext context, ISelfTestCheck check)
    {
        if (AttentionKernels.ChoosePath() == AttentionPath.CooperativeMatrix)
            Require(context, check, "the cooperative-matrix attention", AttentionKernels.PathVariable);
    }

    private static void Require(GpuContext context, ISelfTestCheck check, string path, string switchVariable)
    {
        SelfTestResult? failed = new SelfTestSuite([check]).Run(context).Results.FirstOrDefault(result => !result.Passed);
        if (failed is null) return;
        string why = failed.Failure ?? $"error {failed.MaxError:E1} above the tolerance {failed.Tolerance:E1}";
        throw new InvalidInputException($"{switchVariable}=coopmat: {path} fails its self-test on " +
            $"{context.Info.Name} ({failed.Case}: {why}); unset {switchVariable} to use the fp32 path, and see docs/porting.md to report it.");
    }
}
