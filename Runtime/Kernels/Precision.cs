using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// The number format of matmul operands (PyTorch AMP's sense of mixed precision): fp32 everywhere, or fp16/bf16
/// copies of weights, activations and activation gradients where they feed matmuls, with fp32 master weights,
/// optimizer state, accumulation, norms, softmax and loss.
/// </summary>
public enum Precision
{
    Fp32,
    Fp16,
    Bf16,
}

public static class PrecisionFormat
{
    /// <summary>The command-line spelling: fp32, fp16, bf16.</summary>
    public static string Name(this Precision precision) => precision switch
    {
        Precision.Fp16 => "fp16",
        Precision.Bf16 => "bf16",
        _ => "fp32",
    };

    /// <summary>The suffix of a kernel's build-time variant for 16-bit storage: "_f16", "_bf16", or "" for fp32.</summary>
    public static string VariantSuffix(this Precision precision) => precision switch
    {
        Precision.Fp16 => "_f16",
        Precision.Bf16 => "_bf16",
        _ => "",
    };

    /// <summary>Bytes per stored element.</summary>
    public static int ElementBytes(this Precision precision) => precision == Precision.Fp32 ? 4 : 2;

    /// <summary>Reads fp32 | fp16 | bf16 | auto; <paramref name="precision"/> is null for auto.</summary>
    public static bool TryParse(string text, out Precision? precision)
    {
        precision = text.Trim().ToLowerInvariant() switch
        {
            "fp32" => Precision.Fp32,
            "fp16" => Precision.Fp16,
            "bf16" => Precision.Bf16,
            _ => null,
        };
        return precision is not null || text.Trim().Equals("auto", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// What this device trains in: the requested precision once the device is known to support it, or for auto
    /// fp16 where cooperative-matrix matmuls run (bf16 has no cooperative-matrix kernel here), fp32 elsewhere
    /// (lavapipe and other CPU devices stay fp32: their matrix units are emulated).
    /// </summary>
    public static Precision Resolve(Precision? requested, GpuContext context)
    {
        DeviceInfo device = context.Info;
        if (requested is null)
            return KernelProfile.For(device).PrefersMatrixUnits && MissingFeature(Precision.Fp16, device) is null && MatmulKernels.CooperativeMatrixTile(context, out _) is not null
                ? Precision.Fp16
                : Precision.Fp32;
        RequireSupported(requested.Value, device);
        return requested.Value;
    }

    /// <summary>Refuses (exit 7) a precision the device cannot run, naming the feature it lacks.</summary>
    public static void RequireSupported(Precision precision, DeviceInfo device)
    {
        if (MissingFeature(precision, device) is string missing)
            throw new InvalidInputException($"--precision {precision.Name()}: {device.Name} lacks {missing}; use --precision fp32.");
    }

    /// <summary>The device feature a precision needs and this device lacks, or null.</summary>
    public static string? MissingFeature(Precision precision, DeviceInfo device) => precision switch
    {
        Precision.Fp32 => null,
        _ when !device.StorageBuffer16Bit => "16-bit storage (storageBuffer16BitAccess)",
        Precision.Bf16 when !device.ShaderInt16 => "16-bit integers (shaderInt16), which the bf16 rounding uses",
        _ => null,
    };
}
