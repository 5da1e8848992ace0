using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// One AdamW step on one parameter tensor (Shaders/adamw.comp), in the operation order of
/// torch.optim.AdamW's single-tensor implementation: decoupled weight decay p *= 1 - lr*wd first, then
/// m = lerp(m, g, 1 - beta1), v = beta2 v + (1 - beta2) g^2,
/// p -= (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps). The gradient is multiplied by
/// the clip scale normAndScale[1] first; lr, betas, eps, weight decay and the 1-based step t come from
/// the step-scalar buffer, so a recorded step stays valid as they change.
/// </summary>
public static class AdamWKernels
{
    private const uint WorkgroupSize = 256;
    private const uint MaxGroups = 4096;

    private readonly record struct Push(uint Count, uint ApplyWeightDecay);

    public static void Step(CommandList c, BufferSlice parameters, BufferSlice gradients, BufferSlice firstMoment, BufferSlice secondMoment,
        BufferSlice stepScalars, BufferSlice normAndScale, int count, bool applyWeightDecay)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        long bytes = 4L * count;
        foreach (var (slice, what) in new[] { (parameters, "parameters"), (gradients, "gradients"), (firstMoment, "first moment"), (secondMoment, "second moment") })
            if (slice.Length < bytes) throw new ArgumentException($"AdamW: {what} {slice} is shorter than {count} fp32 elements");
        if (stepScalars.Length < StepScalars.ByteLength) throw new ArgumentException($"AdamW: {stepScalars} is shorter than the step-scalar block");
        if (normAndScale.Length < 8) throw new ArgumentException($"AdamW: {normAndScale} does not hold the norm and the clip scale");

        uint groups = (uint)Math.Clamp((count + WorkgroupSize - 1) / WorkgroupSize, 1, MaxGroups);
        c.Dispatch(c.Context.Kernels.Get("adamw", WorkgroupSize), groups, 1, 1, new Push((uint)count, applyWeightDecay ? 1u : 0u),
            Binding.Write(parameters.Slice(0, bytes)),
            Binding.Read(gradients.Slice(0, bytes)),
            Binding.Write(firstMoment.Slice(0, bytes)),
            Binding.Write(secondMoment.Slice(0, bytes)),
            Binding.Read(stepScalars.Slice(0, StepScalars.ByteLength)),
            Binding.Read(normAndScale.Slice(0, 8)));
    }
}
