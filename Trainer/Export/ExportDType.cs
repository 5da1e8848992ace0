using System.Runtime.InteropServices;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Export;

/// <summary>The number format of an exported model's matrices (`--dtype`).</summary>
public enum ExportDType
{
    F32,
    F16,
    BF16,
}

/// <summary>
/// Tensors in an export number format, rounded to nearest even as the device rounds (<see cref="SixteenBitReference"/>).
/// A format is checked against every value before anything is written, then written a chunk at a time, so an export
/// never holds a second copy of the model in memory.
/// </summary>
public static class ExportDTypes
{
    public const string Names = "f32, f16 or bf16";

    private const int ChunkElements = 1 << 16;

    public static ExportDType? Parse(string name) => name.ToLowerInvariant() switch
    {
        "f32" => ExportDType.F32,
        "f16" => ExportDType.F16,
        "bf16" => ExportDType.BF16,
        _ => null,
    };

    public static int ElementSize(ExportDType dtype) => dtype == ExportDType.F32 ? 4 : 2;

    /// <summary>
    /// Refuses a tensor with a value the format turns into infinity (beyond f16's largest, 65504, for f16), naming it,
    /// rather than letting the exported model compute something else.
    /// </summary>
    public static void RequireRepresentable(ReadOnlySpan<float> values, ExportDType dtype, string tensorName)
    {
        if (dtype == ExportDType.F32) return;
        Precision precision = SixteenBitPrecision(dtype);
        foreach (float value in values)
            if (!float.IsFinite(SixteenBitReference.Decode(SixteenBitReference.Encode(value, precision), precision)))
                throw new InvalidInputException($"{tensorName} holds {value}, beyond the range of {dtype.ToString().ToLowerInvariant()}; export with --dtype f32 (nothing was written).");
    }

    /// <summary>Writes <paramref name="values"/> as little-endian <paramref name="dtype"/> numbers.</summary>
    public static void Write(Stream stream, ReadOnlySpan<float> values, ExportDType dtype)
    {
        if (dtype == ExportDType.F32)
        {
            stream.Write(MemoryMarshal.AsBytes(values));
            return;
        }
        Precision precision = SixteenBitPrecision(dtype);
        var bits = new ushort[Math.Min(ChunkElements, values.Length)];
        for (int start = 0; start < values.Length; start += bits.Length)
        {
            int count = Math.Min(bits.Length, values.Length - start);
            for (int i = 0; i < count; i++) bits[i] = SixteenBitReference.Encode(values[start + i], precision);
            stream.Write(MemoryMarshal.AsBytes(bits.AsSpan(0, count)));
        }
    }

    private static Precision SixteenBitPrecision(ExportDType dtype) => dtype == ExportDType.F16 ? Precision.Fp16 : Precision.Bf16;
}
