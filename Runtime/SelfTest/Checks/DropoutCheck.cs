using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Randomness;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.SelfTest.Checks;

/// <summary>
/// <see cref="DropoutKernels"/> forward and backward against <see cref="DropoutReference"/>: both draw the
/// same Philox bits, compare, and multiply once in fp32, so the kernel must be bit-exact (as
/// Tests/Runtime/DropoutTests require). Error: the number of elements whose bits differ; tolerance 0.
/// Counts 1, odd, aligned and large (grid strides), probabilities 0.1 to 0.9, a dropout stream above the
/// corruption streams.
/// </summary>
internal sealed class DropoutCheck : ISelfTestCheck
{
    private const ulong Seed = 0x5EEDF00D12345678ul;
    private const uint RandomStep = 17;
    private const uint Stream = Philox4x32.Streams.FirstDropout + 3;

    private static readonly (int Count, float Probability)[] Cases = [(1, 0.1f), (33, 0.5f), (4096, 0.1f), (100_003, 0.25f), (1027, 0.9f)];

    public string Name => "dropout";

    public IEnumerable<SelfTestResult> Run(GpuContext context)
    {
        foreach (var (count, probability) in Cases)
            foreach (SelfTestResult result in RunCase(context, count, probability)) yield return result;
    }

    private IEnumerable<SelfTestResult> RunCase(GpuContext context, int count, float probability)
    {
        float[] x = SelfTestMeasure.Normal(count, seed: count), dy = SelfTestMeasure.Normal(count, seed: count + 1);
        using GpuBuffer scalars = context.Upload<StepScalars>([new StepScalars { RandomStep = RandomStep, Seed = Seed }], "selftest-step-scalars");
        using GpuBuffer input = context.Upload<float>(x, "selftest-x"), gradient = context.Upload<float>(dy, "selftest-dy");
        using GpuBuffer y = context.Allocate<float>(count, "selftest-y"), dx = context.Allocate<float>(count, "selftest-dx");
        context.Execute(c =>
        {
            DropoutKernels.Forward(c, input.Whole, y.Whole, scalars.Whole, probability, Stream, count);
            DropoutKernels.Backward(c, gradient.Whole, dx.Whole, scalars.Whole, probability, Stream, count);
        });
        string shape = $"count={count} p={probability}";
        yield return new SelfTestResult(Name, $"forward {shape} (mismatched elements)",
            SelfTestMeasure.BitMismatches(context.Download<float>(y), DropoutReference.Apply(x, Seed, RandomStep, Stream, probability)), 0);
        yield return new SelfTestResult(Name, $"backward {shape} (mismatched elements)",
            SelfTestMeasure.BitMismatches(context.Download<float>(dx), DropoutReference.Apply(dy, Seed, RandomStep, Stream, probability)), 0);
    }
}
