using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// One AdamW step on one parameter tensor (Shaders/adamw.comp), in the operation order of
/// torch.optim.AdamW's single-tensor implementation: decoupled weight decay p *= 1 - lr*wd first, then
/// m = lerp(m, g, 1 - beta1), v = beta2 v + (1 - beta2) g^2,
/// p -= (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps). The gradient is multiplied by
/// the clip scale normAndScale[1] first; lr, betas, eps, weight decay and the 1-based step t come from
/// the step-scalar buffer, so a recorded step stays valid as they change. Under mixed precision it also writes the
/// updated parameter's 16-bit copy (round to nearest even), the operand the next step's matmuls read.
/// </summary>
public static class AdamWKernels
{
    private const uint WorkgroupSize = 256;
    private const uint MaxGroups = 4096;

    private readonly record struct Push(uint Count, uint ApplyWeightDecay);

    /// <summary>
    /// Updates <paramref name="count"/> parameters in place, and their 16-bit copy when <paramref name="copy"/> is given
    /// (its slice and format). A tensor bigger than one binding (a 50304 x 768 embedding is 155 MB, lavapipe binds
    /// 128 MiB) is updated in chunks; elementwise, so chunking changes no bit.
    /// </summary>
    public static void Step(CommandList c, BufferSlice parameters, BufferSlice gradients, BufferSlice firstMoment, BufferSlice secondMoment,
        BufferSlice stepScalars, BufferSlice normAndScale, int count, bool applyWeightDecay, (BufferSlice Slice, Precision Format)? copy = null) =>
        Step(c, parameters, gradients, firstMoment, secondMoment, stepScalars, normAndScale, count, applyWeightDecay, copy,
            MaxElementsPerChunk(c.Context.Info));

    /// <summary>
    /// Floats per chunk: the binding limit, rounded down to 128 floats so chunk offsets stay 256-byte aligned in the fp32
    /// tensors and in the 16-bit copy alike.
    /// </summary>
    internal static int MaxElementsPerChunk(DeviceInfo info) => (int)Math.Min(info.MaxStorageBufferRange / 4 / ChunkGranule * ChunkGranule,
        int.MaxValue / ChunkGranule * ChunkGranule);

    private const int ChunkGranule = 128;

    internal static void Step(CommandList c, BufferSlice parameters, BufferSlice gradients, BufferSlice firstMoment, BufferSlice secondMoment,
        BufferSlice stepScalars, BufferSlice normAndScale, int count, bool applyWeightDecay, (BufferSlice Slice, Precision Format)? copy,
        int elementsPerChunk)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        if (elementsPerChunk < ChunkGranule || elementsPerChunk % ChunkGranule != 0)
            throw new ArgumentOutOfRangeException(nameof(elementsPerChunk), $"chunks must be a positive multiple of {ChunkGranule} floats, not {elementsPerChunk}");
        foreach (var (slice, what) in new[] { (parameters, "parameters"), (gradients, "gradients"), (firstMoment, "first moment"), (secondMoment, "second moment") })
            if (slice.Length < 4L * count) throw new ArgumentException($"AdamW: {what} {slice} is shorter than {count} fp32 elements");
        if (stepScalars.Length < StepScalars.ByteLength) throw new ArgumentException($"AdamW: {stepScalars} is shorter than the step-scalar block");
        if (normAndScale.Length < 8) throw new ArgumentException($"AdamW: {normAndScale} does not hold the norm and the clip scale");
        if (copy is { Format: Precision.Fp32 }) throw new ArgumentException("AdamW: a parameter copy is fp16 or bf16", nameof(copy));
        if (copy is { } copied && copied.Slice.Length < 2L * count) throw new ArgumentException($"AdamW: copy {copied.Slice} is shorter than {count} 16-bit elements");

        string variant = copy?.Format switch { Precision.Fp16 => "adamw_f16_copy", Precision.Bf16 => "adamw_bf16_copy", _ => "adamw" };
        Kernel kernel = c.Context.Kernels.Get(variant, WorkgroupSize);
        for (int first = 0; first < count; first += elementsPerChunk)
        {
            int chunk = Math.Min(elementsPerChunk, count - first);
            uint groups = (uint)Math.Clamp((chunk + WorkgroupSize - 1) / WorkgroupSize, 1, MaxGroups);
            var bindings = new List<Binding>
            {
                Binding.Write(parameters.Elements<float>(first, chunk)),
                Binding.Read(gradients.Elements<float>(first, chunk)),
                Binding.Write(firstMoment.Elements<float>(first, chunk)),
                Binding.Write(secondMoment.Elements<float>(first, chunk)),
                Binding.Read(stepScalars.Slice(0, StepScalars.ByteLength)),
                Binding.Read(normAndScale.Slice(0, 8)),
            };
            if (copy is { } target) bindings.Add(Binding.Write(target.Slice.Slice(2L * first, 2L * chunk)));
            c.Dispatch(kernel, groups, 1, 1, new Push((uint)chunk, applyWeightDecay ? 1u : 0u), [.. bindings]);
        }
    }
}
