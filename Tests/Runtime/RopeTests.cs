using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;
using static VkDiffusion.Tests.Infrastructure.FiniteDifference;

namespace VkDiffusion.Tests.Runtime;

public sealed class RopeTests(GpuFixture fixture) : GpuTest(fixture)
{
    // (tokens, heads, head dim)
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 32 }, { 7, 3, 32 }, { 33, 2, 64 }, { 127, 1, 64 }, { 7, 1, 128 }, { 33, 3, 128 }, { 1, 1, 2 }, { 5, 2, 6 },
    };

    private static uint[] Positions(int tokenCount, int seed)
    {
        // Position 0 (exact identity), 2047 (the paper's largest at L = 2048), and random ones in between.
        var random = new Random(seed);
        return Enumerable.Range(0, tokenCount).Select(t => t == 0 ? 0u : t == 1 ? 2047u : (uint)random.Next(2048)).ToArray();
    }

    // Outputs are rotations of pairs (a, b) of magnitude <= |(a, b)| ~ 1.5. The GPU's angle differs from the
    // reference's fp32 angle through inv_freq = exp2(i * step): the exponent carries ~2^-24 * 13.3 absolute
    // error and Vulkan allows exp2 (3 + 2|x|) ulp, so inv_freq is good to ~2^-19 relative and the angle, up
    // to 2047 rad, to ~4e-3 in the worst case the spec allows. Each element is held to
    // |pair| * (position * inv_freq * 2^-19 + 1e-6) (1e-6 for the sine/cosine polynomials and roundings).
    private static void AssertRotatedClose(float[] actual, double[] expected, double[] input, uint[] positions, int headCount, int headDim)
    {
        int half = headDim / 2, width = 3 * headCount * headDim;
        for (int i = 0; i < actual.Length; i++)
        {
            int t = i / width, within = i % width, pairIndex = within % headDim % half;
            if (within >= 2 * headCount * headDim)
            {
                Assert.Equal(input[i], actual[i]); // V: untouched bits
                continue;
            }
            int a = i - within % headDim + pairIndex, b = a + half;
            double magnitude = Math.Sqrt(input[a] * input[a] + input[b] * input[b]);
            double angle = positions[t] * Math.Pow(10000, -2.0 * pairIndex / headDim);
            double bound = magnitude * (angle * Math.Pow(2, -19) + 1e-6);
            Assert.True(Math.Abs(actual[i] - expected[i]) <= bound, $"element {i} (token {t}, pair {pairIndex}): {actual[i]} vs {expected[i]} within {bound}");
        }
    }

    [Theory, MemberData(nameof(Shapes))]
    public void Forward_and_backward_match_the_reference(int tokenCount, int headCount, int headDim)
    {
        float[] qkv = TestData.Normal(tokenCount * 3 * headCount * headDim, seed: headDim + tokenCount);
        uint[] positions = Positions(tokenCount, seed: tokenCount);
        using GpuBuffer positionBuffer = Context.Upload<uint>(positions, "positions");
        using var forward = GuardedBuffer.WithFloats(Context, qkv);
        using var backward = GuardedBuffer.WithFloats(Context, qkv);
        Context.Execute(c =>
        {
            RopeKernels.Forward(c, forward.Data, positionBuffer.Whole, tokenCount, headCount, headDim);
            RopeKernels.Backward(c, backward.Data, positionBuffer.Whole, tokenCount, headCount, headDim);
        });
        double[] input = ToDouble(qkv);
        float[] rotated = forward.ReadFloats();
        AssertRotatedClose(rotated, RopeReference.Forward(input, positions, tokenCount, headCount, headDim), input, positions, headCount, headDim);
        AssertRotatedClose(backward.ReadFloats(), RopeReference.Backward(input, positions, tokenCount, headCount, headDim), input, positions, headCount, headDim);
        // Position 0 rotates by zero: cos 0 = 1 and sin 0 = 0 exactly, so token 0 keeps its bits.
        int width = 3 * headCount * headDim;
        Assert.Equal(qkv[..width], rotated[..width]);
    }

    // Under mixed precision RoPE writes attention's 16-bit input in one pass: every element is the fp32 rotation (V: the
    // value itself) rounded once to nearest even, bit for bit as SixteenBitReference rounds; values beyond fp16's range
    // become infinity, as the casts make them. qkv itself is left as it was.
    [Theory, InlineData(Precision.Fp16), InlineData(Precision.Bf16)]
    public void The_16_bit_output_is_the_fp32_rotation_rounded_once(Precision precision)
    {
        const int tokenCount = 9, headCount = 3, headDim = 32;
        float[] qkv = TestData.Normal(tokenCount * 3 * headCount * headDim, seed: 51);
        qkv[5] = 1e5f;                               // a Q element past fp16's largest value
        qkv[2 * headCount * headDim + 7] = -7e4f;    // and a V element
        uint[] positions = Positions(tokenCount, seed: 52);
        using GpuBuffer positionBuffer = Context.Upload<uint>(positions, "positions");
        using var rotatedFp32 = GuardedBuffer.WithFloats(Context, qkv);
        using var input = GuardedBuffer.WithFloats(Context, qkv);
        using GpuBuffer rotated16 = Context.Allocate<ushort>(qkv.Length, "rotated");
        Context.Execute(c =>
        {
            RopeKernels.Forward(c, rotatedFp32.Data, positionBuffer.Whole, tokenCount, headCount, headDim);
            RopeKernels.ForwardTo16Bit(c, input.Data, positionBuffer.Whole, rotated16.Whole, precision, tokenCount, headCount, headDim);
        });
        Assert.Equal(SixteenBitReference.Encode(rotatedFp32.ReadFloats(), precision), Context.Download<ushort>(rotated16));
        Assert.Equal(qkv, input.ReadFloats());
    }

    // The backward is the transpose of the forward (a rotation's inverse): applying both gives the input back
    // up to twice the forward's error bound.
    [Fact]
    public void Backward_undoes_forward()
    {
        const int tokenCount = 33, headCount = 2, headDim = 64;
        float[] qkv = TestData.Normal(tokenCount * 3 * headCount * headDim, seed: 77);
        uint[] positions = Positions(tokenCount, seed: 78);
        using GpuBuffer positionBuffer = Context.Upload<uint>(positions, "positions");
        using var buffer = GuardedBuffer.WithFloats(Context, qkv);
        Context.Execute(c =>
        {
            RopeKernels.Forward(c, buffer.Data, positionBuffer.Whole, tokenCount, headCount, headDim);
            RopeKernels.Backward(c, buffer.Data, positionBuffer.Whole, tokenCount, headCount, headDim);
        });
        // A forward-then-inverse rotation with the same (possibly slightly wrong) angle is the identity up to
        // a few roundings of O(1) values: 1e-6.
        TestData.AssertClose(buffer.ReadFloats(), qkv, 1e-6, 1e-6, "round trip");
    }

    // RoPE is linear in qkv, so the central difference is exact up to rounding.
    [Fact]
    public void Reference_backward_matches_finite_differences()
    {
        const int tokenCount = 3, headCount = 2, headDim = 4;
        uint[] positions = [0, 5, 1000];
        double[] qkv = ToDouble(TestData.Normal(tokenCount * 3 * headCount * headDim, seed: 41));
        double[] upstream = ToDouble(TestData.Normal(qkv.Length, seed: 42));
        double[] numeric = Gradient(input => Dot(RopeReference.Forward(input, positions, tokenCount, headCount, headDim), upstream), qkv);
        AssertClose(RopeReference.Backward(upstream, positions, tokenCount, headCount, headDim), numeric, 1e-7, "dQKV");
    }

    // The rotate-half convention pinned on a hand-computed case: head dim 4, position 1, theta 10000:
    // angles (1, 0.01); q = (1, 2, 3, 4) -> (1 cos1 - 3 sin1, 2 cos.01 - 4 sin.01, 3 cos1 + 1 sin1, 4 cos.01 + 2 sin.01).
    [Fact]
    public void Reference_uses_the_rotate_half_convention()
    {
        double[] qkv = [1, 2, 3, 4, 0, 0, 0, 0, 9, 9, 9, 9];
        double[] result = RopeReference.Forward(qkv, [1u], 1, 1, 4);
        double[] expected = [Math.Cos(1) - 3 * Math.Sin(1), 2 * Math.Cos(0.01) - 4 * Math.Sin(0.01), 3 * Math.Cos(1) + Math.Sin(1), 4 * Math.Cos(0.01) + 2 * Math.Sin(0.01)];
        // The reference rounds inv_freq and the angle to fp32 (the convention of the reference code): 1e-7.
        for (int i = 0; i < 4; i++) Assert.Equal(expected[i], result[i], 1e-7);
        Assert.Equal(qkv[4..], result[4..]);
    }
}
