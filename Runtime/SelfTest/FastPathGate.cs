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
    public static void RequireWorkingMatmul(GpuContext context) => RequireWorkingMatmul(context, new MatmulCheck());

    internal static void RequireWorkingMatmul(GpuContext context, ISelfTestCheck check)
    {
        if (MatmulKernels.ChoosePath(context.Info) != MatmulPath.CooperativeMatrix) return;
        SelfTestResult? failed = new SelfTestSuite([check]).Run(context).Results.FirstOrDefault(result => !result.Passed);
        if (failed is null) return;
        string why = failed.Failure ?? $"error {failed.MaxError:E1} above the tolerance {failed.Tolerance:E1}";
        throw new InvalidInputException($"{MatmulKernels.PathVariable}=coopmat: the cooperative-matrix matmul fails its self-test on " +
            $"{context.Info.Name} ({failed.Case}: {why}); unset {MatmulKernels.PathVariable} to use the fp32 path, and see docs/porting.md to report it.");
    }
}
