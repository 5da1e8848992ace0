using System.Text.Json.Serialization;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// Where fp16's dynamic loss scale stands (torch.cuda.amp.GradScaler's rule, applied on the device by
/// <see cref="LossScaleKernels"/>): the loss gradient is multiplied by 2^Exponent (start 2^16) so small gradients
/// survive fp16; a step whose gradients overflowed is skipped and halves the scale; after the growth interval's clean
/// steps in a row it doubles. A skipped step does not count as an optimizer step (AdamW's bias correction uses the
/// steps applied). The state is part of a checkpoint's progress, so a resumed run continues bit for bit.
/// </summary>
/// <param name="CleanSteps">Clean steps since the scale last changed.</param>
/// <param name="SkippedSteps">Steps skipped so far.</param>
public sealed record LossScaleState(int Exponent, int CleanSteps, long SkippedSteps)
{
    /// <summary>Below 2^-16 even tiny gradients overflow: the run has diverged rather than met a spike.</summary>
    public const int MinExponent = -16;

    /// <summary>torch's GradScaler defaults: start at 2^16, double after 2000 clean steps in a row.</summary>
    public const double DefaultInitialScale = 65536;
    public const int DefaultGrowthInterval = 2000;

    public static LossScaleState Initial(double initialScale) => new((int)Math.Round(Math.Log2(initialScale)), 0, 0);

    /// <summary>The scale as a number (2^Exponent).</summary>
    [JsonIgnore]
    public double Scale => Math.ScaleB(1.0, Exponent);

    /// <summary>True once the scale has fallen below <see cref="MinExponent"/>.</summary>
    [JsonIgnore]
    public bool HasCollapsed => Exponent < MinExponent;
}
