using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.SelfTest.Checks;

/// <summary>
/// <see cref="RmsNormKernels"/> forward (y, rstd) and backward (dx, dWeight; overwriting and accumulating)
/// against <see cref="RmsNormReference"/> (double), with single rows, odd widths and a model width.
/// Normwise relative errors; the tolerances are the bounds of Tests/Runtime/RmsNormTests, turned normwise
/// (largest per-element bound over max|reference|):
/// forward: rstd is an fp32 sum of C squares and an inversesqrt, y two more roundings: (C + 8) 2^-24 relative.
/// dx: (C + 16) 2^-24 (|rstd w dy| + rstd^3 / C |x| sum|w dy x|) per element.
/// dWeight: (R + C + 16) 2^-24 sum_r |dy x rstd| per element (summed over row blocks, each carrying rstd's error).
/// Accumulating adds one rounding, 2^-24 (|new| + |old| + |gradient|).
/// </summary>
internal sealed class RmsNormCheck : ISelfTestCheck
{
    private static readonly double Unit = Math.Pow(2, -24);

    // (rows, channels)
    private static readonly (int Rows, int Channels)[] Shapes = [(1, 7), (33, 64), (127, 257), (64, 768)];

    public string Name => "rmsnorm";

    public IEnumerable<SelfTestResult> Run(GpuContext context)
    {
        foreach (var (rowCount, channelCount) in Shapes)
            foreach (SelfTestResult result in RunCase(context, rowCount, channelCount)) yield return result;
    }

    private IEnumerable<SelfTestResult> RunCase(GpuContext context, int rowCount, int channelCount)
    {
        int count = rowCount * channelCount;
        float[] x = SelfTestMeasure.Normal(count, seed: rowCount + 1), dy = SelfTestMeasure.Normal(count, seed: rowCount + 2);
        float[] weight = SelfTestMeasure.Uniform(channelCount, seed: channelCount, 0.5f, 1.5f);
        float[] oldDx = SelfTestMeasure.Normal(count, seed: 4), oldDWeight = SelfTestMeasure.Normal(channelCount, seed: 5);

        using GpuBuffer xBuffer = context.Upload<float>(x, "selftest-x"), weightBuffer = context.Upload<float>(weight, "selftest-weight");
        using GpuBuffer dyBuffer = context.Upload<float>(dy, "selftest-dy");
        using GpuBuffer y = context.Allocate<float>(count, "selftest-y"), rstd = context.Allocate<float>(rowCount, "selftest-rstd");
        using GpuBuffer scratch = context.Memory.Allocate(RmsNormKernels.ScratchBytes(rowCount, channelCount), "selftest-rmsnorm-scratch");
        using GpuBuffer dx = context.Allocate<float>(count, "selftest-dx"), dWeight = context.Allocate<float>(channelCount, "selftest-dweight");
        using GpuBuffer dxSum = context.Upload<float>(oldDx, "selftest-dx-accumulate"), dWeightSum = context.Upload<float>(oldDWeight, "selftest-dweight-accumulate");
        context.Execute(c =>
        {
            RmsNormKernels.Forward(c, xBuffer.Whole, weightBuffer.Whole, y.Whole, rstd.Whole, rowCount, channelCount);
            RmsNormKernels.Backward(c, xBuffer.Whole, weightBuffer.Whole, rstd.Whole, dyBuffer.Whole, dx.Whole, dWeight.Whole, scratch.Whole,
                rowCount, channelCount, accumulateDx: false, accumulateDWeight: false);
            RmsNormKernels.Backward(c, xBuffer.Whole, weightBuffer.Whole, rstd.Whole, dyBuffer.Whole, dxSum.Whole, dWeightSum.Whole, scratch.Whole,
                rowCount, channelCount, accumulateDx: true, accumulateDWeight: true);
        });

        double[] xd = SelfTestMeasure.ToDouble(x), dyd = SelfTestMeasure.ToDouble(dy), wd = SelfTestMeasure.ToDouble(weight);
        var forward = RmsNormReference.Forward(xd, wd, rowCount, channelCount);
        var backward = RmsNormReference.Backward(xd, wd, dyd, rowCount, channelCount);
        var dxBound = new double[count];
        var dWeightBound = new double[channelCount];
        for (int r = 0; r < rowCount; r++)
        {
            double absoluteDot = 0;
            for (int c = 0; c < channelCount; c++) absoluteDot += Math.Abs(wd[c] * dyd[r * channelCount + c] * xd[r * channelCount + c]);
            double rowRstd = forward.Rstd[r];
            for (int c = 0; c < channelCount; c++)
            {
                int at = r * channelCount + c;
                dxBound[at] = (channelCount + 16) * Unit * (Math.Abs(rowRstd * wd[c] * dyd[at]) + Math.Pow(rowRstd, 3) / channelCount * Math.Abs(xd[at]) * absoluteDot);
                dWeightBound[c] += (rowCount + channelCount + 16) * Unit * Math.Abs(dyd[at] * xd[at] * rowRstd);
            }
        }

        string shape = $"rows={rowCount} channels={channelCount}";
        double forwardTolerance = (channelCount + 8) * Unit;
        yield return new SelfTestResult(Name, $"forward y {shape}", SelfTestMeasure.NormwiseRelativeError(context.Download<float>(y), forward.Y), forwardTolerance);
        yield return new SelfTestResult(Name, $"forward rstd {shape}", SelfTestMeasure.NormwiseRelativeError(context.Download<float>(rstd), forward.Rstd), forwardTolerance);
        yield return Compare($"backward dx {shape}", context.Download<float>(dx), backward.Dx, null, dxBound);
        yield return Compare($"backward dweight {shape}", context.Download<float>(dWeight), backward.DWeight, null, dWeightBound);
        yield return Compare($"backward dx accumulate {shape}", context.Download<float>(dxSum), backward.Dx, oldDx, dxBound);
        yield return Compare($"backward dweight accumulate {shape}", context.Download<float>(dWeightSum), backward.DWeight, oldDWeight, dWeightBound);
    }

    private SelfTestResult Compare(string caseName, float[] actual, double[] gradient, float[]? old, double[] bound)
    {
        var expected = new double[gradient.Length];
        var allowed = new double[gradient.Length];
        for (int i = 0; i < gradient.Length; i++)
        {
            expected[i] = gradient[i] + (old?[i] ?? 0);
            allowed[i] = bound[i] + (old is null ? 0 : Unit * (Math.Abs(expected[i]) + Math.Abs(old[i]) + Math.Abs(gradient[i])));
        }
        return new SelfTestResult(Name, caseName, SelfTestMeasure.NormwiseRelativeError(actual, expected), SelfTestMeasure.NormwiseTolerance(allowed, expected));
    }
}
