using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// The global L2 norm of all gradients and the clip scale AdamW multiplies them by
/// (Shaders/grad_norm.comp): every tensor writes a fixed block of partial sums of squares, then one
/// workgroup sums every block. The tree depends only on the tensor sizes, so the norm is
/// bit-identical run to run.
/// </summary>
public static class GradientNormKernels
{
    private const uint WorkgroupSize = 256;
    /// <summary>Partial sums per gradient tensor: 256 floats, so each block starts 1 KiB-aligned.</summary>
    internal const int PartialsPerTensor = 256;
    // Each lane sums at least this many squares before the barrier-heavy tree, so a small tensor takes
    // one or a few workgroups instead of 256 nearly idle ones. CPU devices (lavapipe) pay ~10 us per
    // workgroup with barriers, hence the longer runs there.
    private const int GpuMinSquaresPerLane = 16;
    private const int CpuMinSquaresPerLane = 128;

    private readonly record struct CountPush(uint Count);

    /// <summary>Bytes of the scratch buffer <see cref="Compute"/> needs for these gradient tensors.</summary>
    public static long PartialsBytes(int tensorCount) => 4L * PartialsPerTensor * tensorCount;

    /// <summary>
    /// normAndScale[0] = sqrt(sum over every tensor of g^2); normAndScale[1] = clip_norm / (norm + 1e-6)
    /// when clip_norm (from <paramref name="stepScalars"/>) is positive and the norm exceeds it, else 1.
    /// Each gradient slice is at most maxStorageBufferRange bytes; split bigger tensors into several slices.
    /// </summary>
    public static void Compute(CommandList c, IReadOnlyList<BufferSlice> gradients, BufferSlice partials, BufferSlice stepScalars, BufferSlice normAndScale)
    {
        if (gradients.Count == 0) throw new ArgumentException("gradient norm of no tensors");
        long needed = PartialsBytes(gradients.Count);
        if (partials.Length < needed) throw new ArgumentException($"gradient norm: {partials} is shorter than the {needed} bytes of partial sums needed");
        if (stepScalars.Length < StepScalars.ByteLength) throw new ArgumentException($"gradient norm: {stepScalars} is shorter than the step-scalar block");
        if (normAndScale.Length < 8) throw new ArgumentException($"gradient norm: {normAndScale} cannot hold the norm and the scale");

        Kernel partial = c.Context.Kernels.Get("grad_norm_partial", WorkgroupSize, PartialsPerTensor);
        for (int tensor = 0; tensor < gradients.Count; tensor++)
        {
            BufferSlice gradient = gradients[tensor];
            if (gradient.Length % 4 != 0 || gradient.Length / 4 > uint.MaxValue)
                throw new ArgumentException($"gradient norm: {gradient} is not a whole number of fp32 elements a kernel can index");
            uint count = (uint)(gradient.Length / 4);
            uint groups = Groups(count, c.Context.Info);
            c.Dispatch(partial, groups, 1, 1, new CountPush(count), Binding.Read(gradient),
                Binding.Write(partials.Elements<float>((long)tensor * PartialsPerTensor, PartialsPerTensor)));
        }
        Kernel final = c.Context.Kernels.Get("grad_norm_final", WorkgroupSize);
        c.Dispatch(final, 1, 1, 1, new CountPush((uint)(needed / 4)), Binding.Read(partials.Slice(0, needed)),
            Binding.Read(stepScalars.Slice(0, StepScalars.ByteLength)), Binding.Write(normAndScale.Slice(0, 8)));
    }

    /// <summary>Workgroups (= partial sums written) for a tensor of <paramref name="count"/> floats on this device.</summary>
    internal static uint Groups(uint count, DeviceInfo info)
    {
        long perGroup = (long)WorkgroupSize * (KernelProfile.For(info).RowPerInvocation ? CpuMinSquaresPerLane : GpuMinSquaresPerLane);
        return (uint)Math.Clamp((count + perGroup - 1) / perGroup, 1, PartialsPerTensor);
    }
}
