using System.Runtime.InteropServices;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// Per-step values the host writes into a small host-visible device buffer before each submission, so
/// a training step recorded once stays valid while the step, seed and learning rate change. Kernels
/// read it through Shaders/step_scalars.glsl (same layout, std430).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct StepScalars
{
    /// <summary>1-based optimizer step (AdamW bias correction).</summary>
    public uint OptimizerStep;
    /// <summary>Counter of forward passes (micro-batches): keys the random numbers of MDM masks and dropout.</summary>
    public uint RandomStep;
    public uint SeedLow;
    public uint SeedHigh;
    public float LearningRate;
    public float Beta1;
    public float Beta2;
    public float Epsilon;
    public float WeightDecay;
    /// <summary>Global gradient-norm clip threshold; zero or less disables clipping.</summary>
    public float ClipNorm;
    /// <summary>fp16 mixed precision: gradients are computed scaled by 2^this and unscaled in the norm (0: unscaled).</summary>
    public int LossScaleExponent;
    private uint reserved1;

    public const int ByteLength = 48;

    /// <summary>The scalars of one optimizer step with the paper's AdamW settings unless given (PAPER §4).</summary>
    public static StepScalars ForStep(uint optimizerStep, uint randomStep, ulong seed, float learningRate,
        float beta1 = 0.9f, float beta2 = 0.95f, float epsilon = 1e-8f, float weightDecay = 0.1f, float clipNorm = 1f) => new()
    {
        OptimizerStep = optimizerStep,
        RandomStep = randomStep,
        Seed = seed,
        LearningRate = learningRate,
        Beta1 = beta1,
        Beta2 = beta2,
        Epsilon = epsilon,
        WeightDecay = weightDecay,
        ClipNorm = clipNorm,
    };

    public ulong Seed
    {
        readonly get => SeedLow | ((ulong)SeedHigh << 32);
        set
        {
            SeedLow = (uint)value;
            SeedHigh = (uint)(value >> 32);
        }
    }
}
