using VkDiffusion.Runtime.Vulkan;
using static VkDiffusion.Runtime.Kernels.KernelShapes;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// The masked-diffusion forward process (PAPER section 2; Shaders/mdm_corrupt.comp), keyed by the seed and
/// random step of the StepScalars buffer: per sequence b, t_b ~ U[0, 1) and p_b = (1 - eps) t_b + eps; per
/// token, masked = u &lt; p_b; corrupted = masked ? maskId : token; weights = masked ? 1 / p_b : 0;
/// tValues[b] = t_b. <see cref="Reference.CorruptionReference"/> draws the same bits on the CPU.
/// </summary>
public static class CorruptionKernels
{
    private const uint WorkgroupSize = 256;

    private readonly record struct Push(uint BatchCount, uint SequenceLength, uint MaskId, float OneMinusEps, float Eps);

    /// <summary>tokens, corrupted: uint32[batchCount, sequenceLength]; weights: float[batchCount, sequenceLength]; tValues: float[batchCount].</summary>
    public static void Corrupt(CommandList c, BufferSlice tokens, BufferSlice stepScalars, BufferSlice corrupted, BufferSlice weights, BufferSlice tValues,
        int batchCount, int sequenceLength, uint maskId, float eps = 1e-3f)
    {
        uint batch = Positive(batchCount, nameof(batchCount)), length = Positive(sequenceLength, nameof(sequenceLength));
        if (!(eps > 0f && eps <= 1f)) throw new ArgumentOutOfRangeException(nameof(eps), eps, "corruption: eps must be in (0, 1]");
        const string op = "mdm corruption";
        if (stepScalars.Length < StepScalars.ByteLength) throw new ArgumentException($"{op}: {stepScalars} is shorter than the step-scalar block");
        long tokenCount = (long)batch * length;
        long lanes = batch * ((length + 3L) / 4);
        c.Dispatch(c.Context.Kernels.Get("mdm_corrupt", WorkgroupSize), Groups(lanes, WorkgroupSize), 1, 1,
            new Push(batch, length, maskId, 1f - eps, eps),
            Binding.Read(stepScalars.Slice(0, StepScalars.ByteLength)),
            Binding.Read(Exactly(tokens, tokenCount, op, nameof(tokens))),
            Binding.Write(Exactly(corrupted, tokenCount, op, nameof(corrupted))),
            Binding.Write(Exactly(weights, tokenCount, op, nameof(weights))),
            Binding.Write(Exactly(tValues, batch, op, nameof(tValues))));
    }
}
