using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;
using static VkDiffusion.Tests.Infrastructure.FiniteDifference;

namespace VkDiffusion.Tests.Runtime;

public sealed class SwigluTests(GpuFixture fixture) : GpuTest(fixture)
{
    public static TheoryData<int, int> Shapes => new() { { 1, 1 }, { 7, 33 }, { 33, 7 }, { 127, 257 }, { 257, 127 } };

    // Inputs ~N(0, 2). Vulkan bounds exp to (3 + 2|x|) ulp, so sigmoid is good to ~20 ulp for |g| <= 8; the
    // few products and sums add a handful more: rtol 64 * 2^-24 ~ 4e-6. The gate gradient's factor
    // 1 + g (1 - sigmoid) cancels near g ~ -1.28, hence an absolute floor of 1e-6 (outputs are O(1)).
    private const double Rtol = 4e-6, Atol = 1e-6;

    [Theory, MemberData(nameof(Shapes))]
    public void Forward_and_backward_match_the_reference(int rowCount, int hiddenCount)
    {
        float[] h = TestData.Normal(2 * rowCount * hiddenCount, seed: rowCount, std: 2f), dy = TestData.Normal(rowCount * hiddenCount, seed: hiddenCount);
        using GpuBuffer hBuffer = Context.Upload<float>(h, "h"), dyBuffer = Context.Upload<float>(dy, "dy");
        using var y = GuardedBuffer.Poisoned(Context, rowCount * hiddenCount);
        using var dh = GuardedBuffer.Poisoned(Context, 2 * rowCount * hiddenCount);
        Context.Execute(c =>
        {
            SwigluKernels.Forward(c, hBuffer.Whole, y.Data, rowCount, hiddenCount);
            SwigluKernels.Backward(c, hBuffer.Whole, dyBuffer.Whole, dh.Data, rowCount, hiddenCount);
        });
        TestData.AssertClose(y.ReadFloats(), ToFloat(SwigluReference.Forward(ToDouble(h), rowCount, hiddenCount)), Atol, Rtol, "y");
        TestData.AssertClose(dh.ReadFloats(), ToFloat(SwigluReference.Backward(ToDouble(h), ToDouble(dy), rowCount, hiddenCount)), Atol, Rtol, "dh");
    }

    // Saturated gates: exp overflows or underflows; results must be the finite limits, never NaN.
    [Fact]
    public void Saturated_gates_give_the_limits()
    {
        float[] h = [-100f, -30f, 0f, 30f, 100f, 2f, 2f, 2f, 2f, 2f];
        using GpuBuffer hBuffer = Context.Upload<float>(h, "h"), dyBuffer = Context.Upload<float>([1f, 1f, 1f, 1f, 1f], "dy");
        using var y = GuardedBuffer.Poisoned(Context, 5);
        using var dh = GuardedBuffer.Poisoned(Context, 10);
        Context.Execute(c =>
        {
            SwigluKernels.Forward(c, hBuffer.Whole, y.Data, 1, 5);
            SwigluKernels.Backward(c, hBuffer.Whole, dyBuffer.Whole, dh.Data, 1, 5);
        });
        TestData.AssertClose(y.ReadFloats(), ToFloat(SwigluReference.Forward(ToDouble(h), 1, 5)), Atol, Rtol, "y");
        TestData.AssertClose(dh.ReadFloats(), ToFloat(SwigluReference.Backward(ToDouble(h), [1, 1, 1, 1, 1], 1, 5)), Atol, Rtol, "dh");
    }

    [Fact]
    public void Reference_backward_matches_finite_differences()
    {
        const int rowCount = 3, hiddenCount = 4;
        double[] h = ToDouble(TestData.Normal(2 * rowCount * hiddenCount, seed: 11, std: 2f));
        double[] upstream = ToDouble(TestData.Normal(rowCount * hiddenCount, seed: 12));
        double[] numeric = Gradient(input => Dot(SwigluReference.Forward(input, rowCount, hiddenCount), upstream), h);
        AssertClose(SwigluReference.Backward(h, upstream, rowCount, hiddenCount), numeric, 1e-7, "dh");
    }
}
