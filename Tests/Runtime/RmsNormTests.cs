using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;
using static VkDiffusion.Tests.Infrastructure.FiniteDifference;

namespace VkDiffusion.Tests.Runtime;

public sealed class RmsNormTests(GpuFixture fixture) : GpuTest(fixture)
{
    public static TheoryData<int, int> Shapes => new() { { 1, 1 }, { 7, 33 }, { 33, 7 }, { 127, 257 }, { 257, 127 }, { 1, 257 }, { 257, 1 } };

    private static readonly double Unit = Math.Pow(2, -24);

    // rstd comes from an fp32 sum of C squares (recursive-summation bound C * 2^-24 relative, halved by the
    // square root) and inversesqrt (2 ulp); y adds two roundings. (C + 8) * 2^-24 relative covers both,
    // whatever the summation order.
    [Theory, MemberData(nameof(Shapes))]
    public void Forward_matches_the_reference(int rowCount, int channelCount)
    {
        float[] x = TestData.Normal(rowCount * channelCount, seed: rowCount), weight = TestData.Uniform(channelCount, seed: channelCount, 0.5f, 1.5f);
        using GpuBuffer xBuffer = Context.Upload<float>(x, "x"), weightBuffer = Context.Upload<float>(weight, "weight");
        using var y = GuardedBuffer.Poisoned(Context, rowCount * channelCount);
        using var rstd = GuardedBuffer.Poisoned(Context, rowCount);
        Context.Execute(c => RmsNormKernels.Forward(c, xBuffer.Whole, weightBuffer.Whole, y.Data, rstd.Data, rowCount, channelCount));
        var expected = RmsNormReference.Forward(ToDouble(x), ToDouble(weight), rowCount, channelCount);
        double rtol = (channelCount + 8) * Unit;
        TestData.AssertClose(rstd.ReadFloats(), ToFloat(expected.Rstd), 0, rtol, "rstd");
        TestData.AssertClose(y.ReadFloats(), ToFloat(expected.Y), 1e-30, rtol, "y");
    }

    // Error bounds from the magnitudes of the terms (computed in double from the same inputs):
    // dx = rstd w dy - rstd^3 / C x dot, where dot is an fp32 sum of C products: its error is at most
    // (C + 4) 2^-24 sum|w dy x|, and rstd carries (C + 8) 2^-24 relative; so
    // |error dx| <= (C + 16) 2^-24 (|rstd w dy| + rstd^3 / C |x| sum|w dy x|).
    // dWeight sums R products over rows (in blocks, then over blocks), each carrying rstd's error:
    // |error| <= (R + C + 16) 2^-24 sum_r |dy x rstd|. Accumulating adds one rounding of the sum.
    [Theory, MemberData(nameof(Shapes))]
    public void Backward_matches_the_reference_overwriting_and_accumulating(int rowCount, int channelCount)
    {
        int count = rowCount * channelCount;
        float[] x = TestData.Normal(count, seed: rowCount + 1), dy = TestData.Normal(count, seed: rowCount + 2);
        float[] weight = TestData.Uniform(channelCount, seed: 3, 0.5f, 1.5f);
        float[] oldDx = TestData.Normal(count, seed: 4), oldDWeight = TestData.Normal(channelCount, seed: 5);
        double[] xd = ToDouble(x), dyd = ToDouble(dy), wd = ToDouble(weight);
        var expected = RmsNormReference.Backward(xd, wd, dyd, rowCount, channelCount);
        double[] rstd = RmsNormReference.Forward(xd, wd, rowCount, channelCount).Rstd;

        var dxBound = new double[count];
        var dWeightBound = new double[channelCount];
        for (int r = 0; r < rowCount; r++)
        {
            double absoluteDot = 0;
            for (int c = 0; c < channelCount; c++) absoluteDot += Math.Abs(wd[c] * dyd[r * channelCount + c] * xd[r * channelCount + c]);
            for (int c = 0; c < channelCount; c++)
            {
                int at = r * channelCount + c;
                dxBound[at] = (channelCount + 16) * Unit * (Math.Abs(rstd[r] * wd[c] * dyd[at]) + Math.Pow(rstd[r], 3) / channelCount * Math.Abs(xd[at]) * absoluteDot);
                dWeightBound[c] += (rowCount + channelCount + 16) * Unit * Math.Abs(dyd[at] * xd[at] * rstd[r]);
            }
        }

        using GpuBuffer xBuffer = Context.Upload<float>(x, "x"), weightBuffer = Context.Upload<float>(weight, "weight"), dyBuffer = Context.Upload<float>(dy, "dy");
        using GpuBuffer rstdBuffer = Context.Allocate<float>(rowCount, "rstd"), y = Context.Allocate<float>(count, "y");
        using GpuBuffer scratch = Context.Memory.Allocate(RmsNormKernels.ScratchBytes(rowCount, channelCount), "scratch");
        using var dx = GuardedBuffer.Poisoned(Context, count);
        using var dWeight = GuardedBuffer.Poisoned(Context, channelCount);
        using var dxSum = GuardedBuffer.WithFloats(Context, oldDx);
        using var dWeightSum = GuardedBuffer.WithFloats(Context, oldDWeight);
        Context.Execute(c =>
        {
            RmsNormKernels.Forward(c, xBuffer.Whole, weightBuffer.Whole, y.Whole, rstdBuffer.Whole, rowCount, channelCount);
            RmsNormKernels.Backward(c, xBuffer.Whole, weightBuffer.Whole, rstdBuffer.Whole, dyBuffer.Whole, dx.Data, dWeight.Data, scratch.Whole,
                rowCount, channelCount, accumulateDx: false, accumulateDWeight: false);
            RmsNormKernels.Backward(c, xBuffer.Whole, weightBuffer.Whole, rstdBuffer.Whole, dyBuffer.Whole, dxSum.Data, dWeightSum.Data, scratch.Whole,
                rowCount, channelCount, accumulateDx: true, accumulateDWeight: true);
        });
        AssertWithin(dx.ReadFloats(), expected.Dx, null, dxBound, "dx");
        AssertWithin(dWeight.ReadFloats(), expected.DWeight, null, dWeightBound, "dWeight");
        AssertWithin(dxSum.ReadFloats(), expected.Dx, oldDx, dxBound, "accumulated dx");
        AssertWithin(dWeightSum.ReadFloats(), expected.DWeight, oldDWeight, dWeightBound, "accumulated dWeight");
    }

    private static void AssertWithin(float[] actual, double[] expected, float[]? old, double[] bound, string what)
    {
        for (int i = 0; i < actual.Length; i++)
        {
            double target = expected[i] + (old?[i] ?? 0);
            double allowed = bound[i] + (old is null ? 0 : Unit * (Math.Abs(target) + Math.Abs(old[i]) + Math.Abs(expected[i])));
            Assert.True(Math.Abs(actual[i] - target) <= allowed, $"{what}[{i}] = {actual[i]}, expected {target} within {allowed}");
        }
    }

    [Fact]
    public void Backward_is_bit_identical_run_to_run()
    {
        const int rowCount = 300, channelCount = 65;
        float[] x = TestData.Normal(rowCount * channelCount, seed: 21), dy = TestData.Normal(rowCount * channelCount, seed: 22);
        using GpuBuffer xBuffer = Context.Upload<float>(x, "x"), dyBuffer = Context.Upload<float>(dy, "dy");
        using GpuBuffer weight = Context.Upload<float>(TestData.Uniform(channelCount, seed: 23), "weight");
        using GpuBuffer y = Context.Allocate<float>(x.Length, "y"), rstd = Context.Allocate<float>(rowCount, "rstd");
        using GpuBuffer dx = Context.Allocate<float>(x.Length, "dx"), dWeight = Context.Allocate<float>(channelCount, "dWeight");
        using GpuBuffer scratch = Context.Memory.Allocate(RmsNormKernels.ScratchBytes(rowCount, channelCount), "scratch");
        using CommandList commands = Context.CreateCommandList();
        RmsNormKernels.Forward(commands, xBuffer.Whole, weight.Whole, y.Whole, rstd.Whole, rowCount, channelCount);
        RmsNormKernels.Backward(commands, xBuffer.Whole, weight.Whole, rstd.Whole, dyBuffer.Whole, dx.Whole, dWeight.Whole, scratch.Whole,
            rowCount, channelCount, false, false);
        Context.Run(commands);
        uint[] firstDx = Context.Download<uint>(dx), firstDWeight = Context.Download<uint>(dWeight), firstY = Context.Download<uint>(y);
        for (int run = 0; run < 3; run++)
        {
            Context.Run(commands);
            Assert.Equal(firstY, Context.Download<uint>(y));
            Assert.Equal(firstDx, Context.Download<uint>(dx));
            Assert.Equal(firstDWeight, Context.Download<uint>(dWeight));
        }
    }

    // In double the central difference agrees with the analytic gradient to ~1e-10 (see FiniteDifference).
    [Fact]
    public void Reference_backward_matches_finite_differences()
    {
        const int rowCount = 3, channelCount = 5;
        double[] x = ToDouble(TestData.Normal(rowCount * channelCount, seed: 31)), weight = ToDouble(TestData.Uniform(channelCount, seed: 32, 0.5f, 1.5f));
        double[] upstream = ToDouble(TestData.Normal(rowCount * channelCount, seed: 33));
        var analytic = RmsNormReference.Backward(x, weight, upstream, rowCount, channelCount);
        AssertClose(analytic.Dx, Gradient(input => Dot(RmsNormReference.Forward(input, weight, rowCount, channelCount).Y, upstream), x), 1e-7, "dx");
        AssertClose(analytic.DWeight, Gradient(w => Dot(RmsNormReference.Forward(x, w, rowCount, channelCount).Y, upstream), weight), 1e-7, "dWeight");
    }
}
