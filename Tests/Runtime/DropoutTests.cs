using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Randomness;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

public sealed class DropoutTests(GpuFixture fixture) : GpuTest(fixture)
{
    private const ulong Seed = 0x5EEDF00D12345678ul;
    private const uint Stream = Philox4x32.Streams.FirstDropout + 3;

    private GpuBuffer StepScalarsBuffer(uint randomStep, ulong seed = Seed)
    {
        var scalars = new StepScalars { RandomStep = randomStep, Seed = seed };
        GpuBuffer buffer = Context.Allocate<StepScalars>(1, "step-scalars", MemoryKind.HostVisible);
        Context.Upload<StepScalars>(buffer.Whole, [scalars]);
        return buffer;
    }

    // Dropout is a Philox draw, a comparison and one fp32 product on both sides: bit-identical.
    [Theory]
    [InlineData(1, 0.1f)]
    [InlineData(7, 0.5f)]
    [InlineData(33, 0.1f)]
    [InlineData(127, 0.9f)]
    [InlineData(257, 0.25f)]
    [InlineData(10_001, 0.1f)]
    public void Forward_and_backward_match_the_reference_exactly(int count, float probability)
    {
        float[] x = TestData.Normal(count, seed: count), dy = TestData.Normal(count, seed: count + 1);
        using GpuBuffer scalars = StepScalarsBuffer(randomStep: 17);
        using GpuBuffer input = Context.Upload<float>(x, "x"), gradient = Context.Upload<float>(dy, "dy");
        using var y = GuardedBuffer.Poisoned(Context, count);
        using var dx = GuardedBuffer.Poisoned(Context, count);
        Context.Execute(c =>
        {
            DropoutKernels.Forward(c, input.Whole, y.Data, scalars.Whole, probability, Stream, count);
            DropoutKernels.Backward(c, gradient.Whole, dx.Data, scalars.Whole, probability, Stream, count);
        });
        Assert.Equal(DropoutReference.Apply(x, Seed, 17, Stream, probability), y.ReadFloats());
        Assert.Equal(DropoutReference.Apply(dy, Seed, 17, Stream, probability), dx.ReadFloats());
    }

    [Fact]
    public void Probability_zero_copies_the_input()
    {
        float[] x = TestData.Normal(1000, seed: 3);
        using GpuBuffer scalars = StepScalarsBuffer(randomStep: 1);
        using GpuBuffer input = Context.Upload<float>(x, "x");
        using var y = GuardedBuffer.Poisoned(Context, x.Length);
        Context.Execute(c => DropoutKernels.Forward(c, input.Whole, y.Data, scalars.Whole, 0f, Stream, x.Length));
        Assert.Equal(x, y.ReadFloats());
    }

    // The kept count of n independent Bernoulli(1 - p) draws has standard deviation sqrt(n p (1 - p)); a
    // correct generator lands within 5 of them with probability 1 - 6e-7 (and the seed is fixed).
    [Fact]
    public void The_kept_fraction_matches_one_minus_the_probability()
    {
        const int count = 200_000;
        const float probability = 0.3f;
        using GpuBuffer scalars = StepScalarsBuffer(randomStep: 5);
        using GpuBuffer input = Context.Upload<float>(Enumerable.Repeat(1f, count).ToArray(), "ones");
        using GpuBuffer y = Context.Allocate<float>(count, "y");
        Context.Execute(c => DropoutKernels.Forward(c, input.Whole, y.Whole, scalars.Whole, probability, Stream, count));
        int kept = Context.Download<float>(y).Count(value => value != 0f);
        double expected = count * (1 - probability), deviation = Math.Sqrt(count * probability * (1 - probability));
        Assert.InRange(kept, expected - 5 * deviation, expected + 5 * deviation);
    }

    [Fact]
    public void Streams_and_steps_draw_different_masks_and_the_same_step_redraws_the_same()
    {
        bool[] Mask(uint step, uint stream) => Enumerable.Range(0, 256).Select(i => DropoutReference.Keeps(Seed, step, stream, 0.5f, i)).ToArray();
        Assert.Equal(Mask(3, Stream), Mask(3, Stream));
        Assert.NotEqual(Mask(3, Stream), Mask(4, Stream));
        Assert.NotEqual(Mask(3, Stream), Mask(3, Stream + 1));
    }

    [Fact]
    public void Reserved_streams_and_bad_probabilities_are_refused()
    {
        using GpuBuffer scalars = StepScalarsBuffer(randomStep: 1);
        using GpuBuffer buffer = Context.Allocate<float>(8, "x");
        using CommandList commands = Context.CreateCommandList();
        Assert.Throws<ArgumentOutOfRangeException>(() => DropoutKernels.Forward(commands, buffer.Whole, buffer.Whole, scalars.Whole, 0.1f, Philox4x32.Streams.CorruptionMask, 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => DropoutKernels.Forward(commands, buffer.Whole, buffer.Whole, scalars.Whole, 1f, Stream, 8));
    }
}
