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
    /// <param name="operands">The precision the job's matmuls read (fp16 goes to the matrix units by default on GPUs).</param>
    public static void RequireWorkingFastPaths(GpuContext context, Precision operands)
    {
        RequireWorkingMatmul(context, operands, new MatmulCheck(operands));
        RequireWorkingAttention(context, new AttentionCheck());
    }

    internal static void RequireWorkingMatmul(GpuContext context, Precision operands, ISelfTestCheck check)
    {
        if (MatmulKernels.ChoosePath(context, operands) == MatmulPath.CooperativeMatrix)
            Require(context, check, $"{MatmulKernels.PathVariable}=coopmat: the cooperative-matrix matmul",
                $"set {MatmulKernels.PathVariable}=tiled to use the shared-tile path instead");
    }

    internal static void RequireWorkingAttention(GpuContext context, ISelfTestCheck check)
    {
        if (AttentionKernels.ChoosePath() == AttentionPath.CooperativeMatrix)
            Require(context, check, $"{AttentionKernels.PathVariable}=coopmat: the cooperative-matrix attention",
                $"unset {AttentionKernels.PathVariable} to use the fp32 path");
    }

    private static void Require(GpuContext context, ISelfTestCheck check, string path, string way)
    {
        SelfTestResult? failed = new SelfTestSuite([check]).Run(context).Results.FirstOrDefault(result => !result.Passed);
        if (failed is null) return;
        string why = failed.Failure ?? $"error {failed.MaxError:E1} above the tolerance {failed.Tolerance:E1}";
        throw new InvalidInputException($"{path} fails its self-test on {context.Info.Name} ({failed.Case}: {why}); {way}, " +
            "and see docs/porting.md to report it.");
    }
}
