namespace VkDiffusion.Trainer.Training;

/// <summary>
/// fp16's dynamic loss scale, by torch.cuda.amp.GradScaler's rule: the loss gradient is multiplied by 2^Exponent
/// (start 2^16) so small gradients survive fp16; a step whose gradients overflowed (non-finite norm) is skipped and
/// the scale halved; after <see cref="GrowthInterval"/> clean steps in a row it doubles. A skipped step leaves the
/// weights and AdamW state untouched and does not count as an optimizer step (AdamW's bias correction uses
/// <see cref="AppliedSteps"/>). The state is part of a checkpoint's progress, so a resumed run continues bit for bit.
/// </summary>
public sealed class LossScaler(LossScaleState state, int growthInterval)
{
    /// <summary>Below 2^-16 even tiny gradients overflow: the run has diverged rather than met a spike.</summary>
    public const int MinExponent = -16;

    public LossScaleState State { get; private set; } = state;
    public int GrowthInterval { get; } = growthInterval;

    public static LossScaleState Initial(double initialScale) => new((int)Math.Round(Math.Log2(initialScale)), 0, 0);

    /// <summary>The scale as a number (2^Exponent).</summary>
    public double Scale => Math.ScaleB(1.0, State.Exponent);

    /// <summary>Records a step's outcome; false when its gradients overflowed (the device skipped its update).</summary>
    public bool Update(bool gradientsFinite)
    {
        LossScaleState s = State;
        if (!gradientsFinite)
        {
            State = s with { Exponent = s.Exponent - 1, CleanSteps = 0, SkippedSteps = s.SkippedSteps + 1 };
            return false;
        }
        State = s.CleanSteps + 1 >= GrowthInterval
            ? s with { Exponent = s.Exponent + 1, CleanSteps = 0 }
            : s with { CleanSteps = s.CleanSteps + 1 };
        return true;
    }

    /// <summary>True once the scale has fallen below <see cref="MinExponent"/>.</summary>
    public bool HasCollapsed => State.Exponent < MinExponent;
}

/// <summary>Where fp16 loss scaling stands: the scale's exponent, clean steps since it last changed, steps skipped so far.</summary>
public sealed record LossScaleState(int Exponent, int CleanSteps, long SkippedSteps);
