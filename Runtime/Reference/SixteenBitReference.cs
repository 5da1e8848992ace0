using VkDiffusion.Runtime.Kernels;

namespace VkDiffusion.Runtime.Reference;

/// <summary>
/// fp16 and bf16 on the CPU, rounded to nearest even as Shaders/cast_16bit.comp rounds: the bit patterns the device
/// should produce, and the values a 16-bit matmul operand really holds.
/// </summary>
public static class SixteenBitReference
{
    /// <summary>The 16-bit pattern of <paramref name="value"/> in <paramref name="precision"/> (fp16 or bf16).</summary>
    public static ushort Encode(float value, Precision precision) => precision switch
    {
        Precision.Fp16 => BitConverter.HalfToUInt16Bits((Half)value),
        Precision.Bf16 => ToBFloat16(value),
        _ => throw new ArgumentException("fp32 has no 16-bit pattern", nameof(precision)),
    };

    public static float Decode(ushort bits, Precision precision) => precision switch
    {
        Precision.Fp16 => (float)BitConverter.UInt16BitsToHalf(bits),
        Precision.Bf16 => BitConverter.UInt32BitsToSingle((uint)bits << 16),
        _ => throw new ArgumentException("fp32 has no 16-bit pattern", nameof(precision)),
    };

    public static ushort[] Encode(IReadOnlyList<float> values, Precision precision)
    {
        var bits = new ushort[values.Count];
        for (int i = 0; i < bits.Length; i++) bits[i] = Encode(values[i], precision);
        return bits;
    }

    /// <summary>Each value as its nearest <paramref name="precision"/> number (itself in fp32).</summary>
    public static float[] Round(IReadOnlyList<float> values, Precision precision)
    {
        var rounded = new float[values.Count];
        for (int i = 0; i < rounded.Length; i++) rounded[i] = precision == Precision.Fp32 ? values[i] : Decode(Encode(values[i], precision), precision);
        return rounded;
    }

    private static ushort ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        return (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
    }
}
