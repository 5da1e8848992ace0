using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

// The casts of mixed precision, bit for bit: fp16 against .NET's Half conversion (IEEE round to nearest even), bf16
// against hand-worked bit patterns and the same rule, including ties, overflow to infinity, subnormals, NaN and the
// loss-scaled variant (x * 2^e before rounding).
public sealed class CastKernelTests(GpuFixture fixture) : GpuTest(fixture)
{
    private static readonly float[] Specials =
    [
        0f, -0f, 1f, -1f, 65504f, 65520f, 1e6f, -1e6f, 6e-8f, 3e-8f, 1e-10f, float.Epsilon, float.MaxValue,
        float.PositiveInfinity, float.NegativeInfinity, float.NaN,
        // bf16 ties: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7 (even: 1); 1 + 3 * 2^-8 between 1 + 2^-7 and 1 + 2^-6 (even: the latter).
        1.00390625f, 1.01171875f,
        // fp16 ties: 2049 lies halfway between 2048 and 2050 (even: 2048); 2051 between 2050 and 2052 (even: 2052).
        2049f, 2051f,
    ];

    private ushort[] Cast(float[] values, Precision precision, int? lossScaleExponent)
    {
        using GpuBuffer x = Context.Upload<float>(values, "x");
        using GpuBuffer y = Context.Allocate<ushort>(values.Length, "y");
        using GpuBuffer scalars = Context.Upload<StepScalars>([new StepScalars { LossScaleExponent = lossScaleExponent ?? 0 }], "scalars");
        Context.Execute(c => CastKernels.To16Bit(c, x.Whole, y.Whole, precision, lossScaleExponent is null ? null : scalars.Whole));
        return Context.Download<ushort>(y);
    }

    [Theory]
    [InlineData(Precision.Fp16, null)]
    [InlineData(Precision.Bf16, null)]
    [InlineData(Precision.Fp16, 5)]
    [InlineData(Precision.Fp16, -3)]
    public void Every_value_rounds_to_the_nearest_even_16_bit_pattern(Precision precision, int? lossScaleExponent)
    {
        float[] values = [.. Specials, .. TestData.Uniform(5001, seed: 3, -70000f, 70000f), .. TestData.Uniform(3000, seed: 4, -1e-4f, 1e-4f)];
        ushort[] actual = Cast(values, precision, lossScaleExponent);
        for (int i = 0; i < values.Length; i++)
        {
            float scaled = (float)Math.ScaleB(values[i], lossScaleExponent ?? 0);
            ushort expected = SixteenBitReference.Encode(scaled, precision);
            bool bothNaN = float.IsNaN(SixteenBitReference.Decode(expected, precision)) && float.IsNaN(SixteenBitReference.Decode(actual[i], precision));
            Assert.True(bothNaN || expected == actual[i], $"{values[i]:R} x 2^{lossScaleExponent ?? 0}: expected 0x{expected:X4}, got 0x{actual[i]:X4}");
        }
    }

    [Fact]
    public void The_bf16_rule_matches_hand_worked_patterns()
    {
        ushort[] actual = Cast([1f, 1.00390625f, 1.01171875f, -2.5f, 3.0e38f, float.MaxValue, float.NegativeInfinity], Precision.Bf16, null);
        // 3.0e38 = 0x7F61B1E6 rounds up to 0x7F62; float.MaxValue (0x7F7FFFFF) rounds past the largest bf16 to infinity.
        Assert.Equal(new ushort[] { 0x3F80, 0x3F80, 0x3F82, 0xC020, 0x7F62, 0x7F80, 0xFF80 }, actual);
    }
}
