using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Cli;

/// <summary>`--precision fp32|fp16|bf16|auto`, shared by train, sweep, bench step, eval, score and sample.</summary>
internal static class PrecisionFlag
{
    public const string HelpText = "Matmul precision: fp32, fp16 or bf16 (mixed precision: 16-bit matmul operands, fp32 master weights, " +
        "accumulation, norms, softmax and loss; fp16 with a dynamic loss scale), or auto: fp16 on GPUs with cooperative-matrix " +
        "(tensor-core) shapes, fp32 elsewhere. Default fp32.";

    /// <summary>Checks the flag before any work: a bad spelling is a usage error (exit 2).</summary>
    public static void Check(string? value, string verb)
    {
        if (value is not null && !PrecisionFormat.TryParse(value, out _))
            throw new VkDiffusionException($"--precision must be fp32, fp16, bf16 or auto, got {value}; see vkdiff {verb} --help", ExitCodes.Usage);
    }

    /// <summary>
    /// What the flag means on this device: <paramref name="fallback"/> when absent, auto resolved; a precision the device
    /// cannot run is exit 7 naming what it lacks.
    /// </summary>
    public static Precision Resolve(string? value, string verb, GpuContext context, Precision fallback = Precision.Fp32)
    {
        if (value is null) return PrecisionFormat.Resolve(fallback, context);
        Check(value, verb);
        PrecisionFormat.TryParse(value, out Precision? requested);
        return PrecisionFormat.Resolve(requested, context);
    }
}
