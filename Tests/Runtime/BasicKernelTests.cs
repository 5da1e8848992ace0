using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

public sealed class BasicKernelTests(GpuFixture fixture) : GpuTest(fixture)
{
    public static TheoryData<int> Sizes => [1, 7, 33, 1000, (1 << 20) + 3];

    [Theory, MemberData(nameof(Sizes))]
    public void Fill_writes_the_value_everywhere(int count)
    {
        using GpuBuffer y = Context.Allocate<float>(count, "y");
        Context.Execute(c => BasicKernels.Fill(c, y.Whole, 2.5f));
        Assert.Equal(BasicReference.Fill(count, 2.5f), Context.Download<float>(y));
    }

    [Theory, MemberData(nameof(Sizes))]
    public void Copy_reproduces_the_bits(int count)
    {
        float[] x = TestData.Uniform(count, seed: count);
        using GpuBuffer input = Context.Upload<float>(x, "x");
        using GpuBuffer output = Context.Allocate<float>(count, "y");
        Context.Execute(c => BasicKernels.Copy(c, input.Whole, output.Whole));
        Assert.Equal(x, Context.Download<float>(output));
    }

    // add, multiply and scale are single IEEE operations on both sides: results must be bit-identical.
    [Theory, MemberData(nameof(Sizes))]
    public void Add_multiply_and_scale_match_the_reference_exactly(int count)
    {
        float[] a = TestData.Uniform(count, seed: 1), b = TestData.Uniform(count, seed: 2);
        using GpuBuffer bufferA = Context.Upload<float>(a, "a"), bufferB = Context.Upload<float>(b, "b");
        using GpuBuffer sum = Context.Allocate<float>(count, "sum"), product = Context.Allocate<float>(count, "product"),
            scaled = Context.Allocate<float>(count, "scaled");
        Context.Execute(c =>
        {
            BasicKernels.Add(c, bufferA.Whole, bufferB.Whole, sum.Whole);
            BasicKernels.Multiply(c, bufferA.Whole, bufferB.Whole, product.Whole);
            BasicKernels.Scale(c, bufferA.Whole, scaled.Whole, -0.375f);
        });
        Assert.Equal(BasicReference.Add(a, b), Context.Download<float>(sum));
        Assert.Equal(BasicReference.Multiply(a, b), Context.Download<float>(product));
        Assert.Equal(BasicReference.Scale(a, -0.375f), Context.Download<float>(scaled));
    }

    // Each invocation adds about n / (256 groups * 256 lanes) terms in sequence, then two 8-level trees
    // combine them: the standard recursive-summation bound is (terms per lane + 16) * 2^-24 * sum|x|.
    [Theory, MemberData(nameof(Sizes))]
    public void Sum_matches_the_double_precision_sum(int count)
    {
        float[] x = TestData.Uniform(count, seed: 3);
        using GpuBuffer input = Context.Upload<float>(x, "x");
        using GpuBuffer partials = Context.Allocate<float>(BasicKernels.SumPartialCount, "partials");
        using GpuBuffer total = Context.Allocate<float>(1, "total");
        Context.Execute(c => BasicKernels.Sum(c, input.Whole, partials.Whole, total.Whole));
        double expected = BasicReference.Sum(x);
        double absoluteSum = x.Sum(v => Math.Abs((double)v));
        double termsPerLane = Math.Ceiling(count / (256.0 * 256.0));
        double bound = (termsPerLane + 16) * Math.Pow(2, -24) * absoluteSum;
        Assert.InRange(Context.Download<float>(total)[0], expected - bound, expected + bound);
    }

    [Fact]
    public void Sum_is_bit_identical_run_to_run()
    {
        float[] x = TestData.Normal((1 << 20) + 3, seed: 4);
        using GpuBuffer input = Context.Upload<float>(x, "x");
        using GpuBuffer partials = Context.Allocate<float>(BasicKernels.SumPartialCount, "partials");
        using GpuBuffer total = Context.Allocate<float>(1, "total");
        using CommandList commands = Context.CreateCommandList();
        BasicKernels.Sum(commands, input.Whole, partials.Whole, total.Whole);
        Context.Run(commands);
        float first = Context.Download<float>(total)[0];
        for (int run = 0; run < 3; run++)
        {
            Context.Run(commands);
            Assert.Equal(BitConverter.SingleToInt32Bits(first), BitConverter.SingleToInt32Bits(Context.Download<float>(total)[0]));
        }
    }
}
