using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.SelfTest.Checks;

/// <summary>
/// <see cref="SwigluKernels"/> forward and backward against <see cref="SwigluReference"/> (double), inputs
/// N(0, 2) plus one row of saturated gates (|g| up to 100, where exp overflows or underflows), at odd and
/// aligned widths. Normwise relative error; tolerance from the bound of Tests/Runtime/SwigluTests,
/// |error| &lt;= 1e-6 + 4e-6 |reference| per element (Vulkan's exp is good to (3 + 2|x|) ulp, so sigmoid to
/// ~20 ulp, plus a few roundings: 64 2^-24 relative; the gate gradient's factor 1 + g (1 - sigmoid) cancels
/// near g ~ -1.28, hence the 1e-6 floor), i.e. 4e-6 + 1e-6 / max|reference|.
/// </summary>
internal sealed class SwigluCheck : ISelfTestCheck
{
    private const double Rtol = 4e-6, Atol = 1e-6;

    // (rows, hidden)
    private static readonly (int Rows, int Hidden)[] Shapes = [(1, 1), (7, 33), (127, 257), (64, 1024)];

    public string Name => "swiglu";

    public IEnumerable<SelfTestResult> Run(GpuContext context)
    {
        foreach (var (rowCount, hiddenCount) in Shapes)
            foreach (SelfTestResult result in RunCase(context, rowCount, hiddenCount)) yield return result;
    }

    private IEnumerable<SelfTestResult> RunCase(GpuContext context, int rowCount, int hiddenCount)
    {
        float[] h = SelfTestMeasure.Normal(2 * rowCount * hiddenCount, seed: rowCount, std: 2f);
        float[] dy = SelfTestMeasure.Normal(rowCount * hiddenCount, seed: hiddenCount);
        if (rowCount > 1)
        {
            // The last row's gates saturate: the results must be the finite limits.
            float[] saturated = [-100f, -30f, 30f, 100f];
            for (int j = 0; j < hiddenCount; j++) h[2 * hiddenCount * (rowCount - 1) + j] = saturated[j % saturated.Length];
        }
        using GpuBuffer hBuffer = context.Upload<float>(h, "selftest-h"), dyBuffer = context.Upload<float>(dy, "selftest-dy");
        using GpuBuffer y = context.Allocate<float>(rowCount * hiddenCount, "selftest-y"), dh = context.Allocate<float>(2 * rowCount * hiddenCount, "selftest-dh");
        context.Execute(c =>
        {
            SwigluKernels.Forward(c, hBuffer.Whole, y.Whole, rowCount, hiddenCount);
            SwigluKernels.Backward(c, hBuffer.Whole, dyBuffer.Whole, dh.Whole, rowCount, hiddenCount);
        });
        double[] hd = SelfTestMeasure.ToDouble(h);
        double[] expectedY = SwigluReference.Forward(hd, rowCount, hiddenCount);
        double[] expectedDh = SwigluReference.Backward(hd, SelfTestMeasure.ToDouble(dy), rowCount, hiddenCount);
        string shape = $"rows={rowCount} hidden={hiddenCount}";
        yield return new SelfTestResult(Name, $"forward {shape}", SelfTestMeasure.NormwiseRelativeError(context.Download<float>(y), expectedY),
            SelfTestMeasure.NormwiseTolerance(Atol, Rtol, expectedY));
        yield return new SelfTestResult(Name, $"backward {shape}", SelfTestMeasure.NormwiseRelativeError(context.Download<float>(dh), expectedDh),
            SelfTestMeasure.NormwiseTolerance(Atol, Rtol, expectedDh));
    }
}
