using VkDiffusion.Runtime.Kernels;

namespace VkDiffusion.Runtime.Reference;

/// <summary>fp16's loss-scale rule in plain C#: the oracle for <see cref="LossScaleKernels.Update"/>.</summary>
public static class LossScaleReference
{
    /// <summary>The state after a step: on overflow halve the scale, count a skip and restart the clean run;
    /// after <paramref name="growthInterval"/> clean steps in a row double it.</summary>
    public static LossScaleState Next(LossScaleState state, bool gradientsFinite, int growthInterval)
    {
        if (!gradientsFinite) return state with { Exponent = state.Exponent - 1, CleanSteps = 0, SkippedSteps = state.SkippedSteps + 1 };
        return state.CleanSteps + 1 >= growthInterval
            ? state with { Exponent = state.Exponent + 1, CleanSteps = 0 }
            : state with { CleanSteps = state.CleanSteps + 1 };
    }
}
