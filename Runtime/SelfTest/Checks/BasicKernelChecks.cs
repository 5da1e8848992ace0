using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.SelfTest.Checks;

/// <summary>
/// fill, copy, add, mul and scale against <see cref="BasicReference"/>: each output element is one
/// IEEE fp32 operation (or none), so the tolerance is 0 (bit-exact, normwise relative error).
/// reduce_sum: error |sum - exact| / sum|x|, tolerance (terms per lane + 16) * 2^-24 (recursive summation).
/// </summary>
internal abstract class BasicKernelCheck : ISelfTestCheck
{
    // One element, one odd partial workgroup, an aligned size, and an odd size that needs grid strides.
    private static readonly int[] Counts = [1, 33, 4096, 1_000_003];

    public abstract string Name { get; }

    public IEnumerable<SelfTestResult> Run(GpuContext context)
    {
        foreach (int count in Counts) yield return RunCase(context, count);
    }

    protected abstract SelfTestResult RunCase(GpuContext context, int count);

    /// <summary>Runs a kernel from inputs a and b (uploaded) into a fresh output of <paramref name="count"/> floats.</summary>
    protected static float[] RunBinary(GpuContext context, int count, Action<CommandList, BufferSlice, BufferSlice, BufferSlice> record, float[] a, float[] b)
    {
        using GpuBuffer bufferA = context.Upload<float>(a, "selftest-a"), bufferB = context.Upload<float>(b, "selftest-b");
        using GpuBuffer output = context.Allocate<float>(count, "selftest-y");
        context.Execute(c => record(c, bufferA.Whole, bufferB.Whole, output.Whole));
        return context.Download<float>(output);
    }

    protected SelfTestResult Exact(int count, float[] actual, float[] expected) =>
        new(Name, $"count={count}", SelfTestMeasure.NormwiseRelativeError(actual, expected), 0);
}

internal sealed class FillCheck : BasicKernelCheck
{
    public override string Name => "fill";

    protected override SelfTestResult RunCase(GpuContext context, int count) =>
        Exact(count, RunBinary(context, count, (c, _, _, y) => BasicKernels.Fill(c, y, -1.75f), [0f], [0f]), BasicReference.Fill(count, -1.75f));
}

internal sealed class CopyCheck : BasicKernelCheck
{
    public override string Name => "copy";

    protected override SelfTestResult RunCase(GpuContext context, int count)
    {
        float[] x = SelfTestMeasure.Uniform(count, seed: 1);
        return Exact(count, RunBinary(context, count, (c, a, _, y) => BasicKernels.Copy(c, a, y), x, [0f]), x);
    }
}

internal sealed class AddCheck : BasicKernelCheck
{
    public override string Name => "add";

    protected override SelfTestResult RunCase(GpuContext context, int count)
    {
        float[] a = SelfTestMeasure.Uniform(count, seed: 2), b = SelfTestMeasure.Uniform(count, seed: 3);
        return Exact(count, RunBinary(context, count, BasicKernels.Add, a, b), BasicReference.Add(a, b));
    }
}

internal sealed class MultiplyCheck : BasicKernelCheck
{
    public override string Name => "mul";

    protected override SelfTestResult RunCase(GpuContext context, int count)
    {
        float[] a = SelfTestMeasure.Uniform(count, seed: 4), b = SelfTestMeasure.Uniform(count, seed: 5);
        return Exact(count, RunBinary(context, count, BasicKernels.Multiply, a, b), BasicReference.Multiply(a, b));
    }
}

internal sealed class ScaleCheck : BasicKernelCheck
{
    public override string Name => "scale";

    protected override SelfTestResult RunCase(GpuContext context, int count)
    {
        float[] x = SelfTestMeasure.Uniform(count, seed: 6);
        return Exact(count, RunBinary(context, count, (c, a, _, y) => BasicKernels.Scale(c, a, y, 0.3f), x, [0f]), BasicReference.Scale(x, 0.3f));
    }
}

internal sealed class ReduceSumCheck : BasicKernelCheck
{
    public override string Name => "reduce_sum";

    protected override SelfTestResult RunCase(GpuContext context, int count)
    {
        float[] x = SelfTestMeasure.Uniform(count, seed: 7);
        using GpuBuffer input = context.Upload<float>(x, "selftest-x");
        using GpuBuffer partials = context.Allocate<float>(BasicKernels.SumPartialCount, "selftest-partials");
        using GpuBuffer total = context.Allocate<float>(1, "selftest-total");
        context.Execute(c => BasicKernels.Sum(c, input.Whole, partials.Whole, total.Whole));
        double absoluteSum = x.Sum(v => Math.Abs((double)v));
        double error = Math.Abs(context.Download<float>(total)[0] - BasicReference.Sum(x)) / absoluteSum;
        double termsPerLane = Math.Ceiling(count / (256.0 * 256.0));
        return new SelfTestResult(Name, $"count={count} (error / sum|x|)", error, (termsPerLane + 16) * Math.Pow(2, -24));
    }
}
