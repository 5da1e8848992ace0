using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.SelfTest.Checks;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.SelfTest;

/// <summary>
/// Checks a fast path before a long job commits to it. The cooperative-matrix matmul runs on drivers we could not all
/// test, so training on it first runs its self-test cases (small products, well under a second on a GPU) and refuses
/// with the switch that turns it off when one fails, rather than training on wrong products.
/// </summary>
public static class FastPathGate
{
    /// <param name="operands">The precision the job's matmuls read (fp16 goes to the matrix units by default on GPUs).</param>
    public static void RequireWorkingMatmul(GpuContext context, Precision operands) => RequireWorkingMatmul(context, operands, new MatmulCheck(operands));

    internal static void RequireWorkingMatmul(GpuContext context, Precision operands, ISelfTestCheck check)
    {
        if (MatmulKernels.ChoosePath(context, operands) != MatmulPath.CooperativeMatrix) return;
        SelfTestResult? failed = new SelfTestSuite([check]).Run(context).Results.FirstOrDefault(result => !result.Passed);
        if (failed is null) return;
        string why = failed.Failure ?? $"error {failed.MaxError:E1} above the tolerance {failed.Tolerance:E1}";
        throw new InvalidInputException($"{MatmulKernels.PathVariable}=coopmat: the cooperative-matrix matmul fails its self-test on " +
            $"{context.Info.Name} ({failed.Case}: {why}); set {MatmulKernels.PathVariable}=tiled to use the shared-tile path instead, and see docs/porting.md to report it.");
    }
}
