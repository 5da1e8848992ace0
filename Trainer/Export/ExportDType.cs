using System.Runtime.InteropServices;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Export;

/// <summary>The number format of an exported model's matrices (`--dtype`); norm weights always stay f32.</summary>
public enum ExportDType
{
    F32,
    F16,
    BF16,
}

public static class ExportDTypes
{
    public const string Names = "f32, f16 or bf16";

    public static ExportDType? Parse(string name) => name.ToLowerInvariant() switch
    {
        "f32" => ExportDType.F32,
        "f16" => ExportDType.F16,
        "bf16" => ExportDType.BF16,
        _ => null,
    };

    /// <summary>
    /// The little-endian bytes of <paramref name="values"/> in <paramref name="dtype"/>, rounded to nearest even. A value
    /// beyond f16's range (65504) cannot be represented: refused, naming the tensor, rather than written as infinity.
    /// </summary>
    public static byte[] Encode(ReadOnlySpan<float> values, ExportDType dtype, string tensorName)
    {
        if (dtype == ExportDType.F32) return MemoryMarshal.AsBytes(values).ToArray();
        Precision precision = dtype == ExportDType.F16 ? Precision.Fp16 : Precision.Bf16;
        var bits = new ushort[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            bits[i] = SixteenBitReference.Encode(values[i], precision);
            if (!float.IsFinite(SixteenBitReference.Decode(bits[i], precision)))
                throw new InvalidInputException($"{tensorName} holds {values[i]}, beyond the range of {dtype.ToString().ToLowerInvariant()}; export with --dtype f32 (nothing was written).");
        }
        return MemoryMarshal.AsBytes(bits.AsSpan()).ToArray();
    }
}
