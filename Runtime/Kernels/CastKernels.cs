using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// Records fp32 -> fp16/bf16 casts (Shaders/cast_16bit.comp): the 16-bit weight copies, activations and activation
/// gradients that mixed-precision matmuls read. Elementwise, so a tensor bigger than one binding is cast in chunks
/// with no change in any bit.
/// </summary>
public static class CastKernels
{
    private const uint WorkgroupSize = 256;

    private readonly record struct CountPush(uint Count);

    /// <summary>
    /// y = x rounded to <paramref name="precision"/> (fp16 or bf16). With <paramref name="lossScaleScalars"/> (fp16 only),
    /// y = x * 2^LossScaleExponent of that step-scalar block: the dynamic loss scale.
    /// </summary>
    public static void To16Bit(CommandList commands, BufferSlice x, BufferSlice y, Precision precision, BufferSlice? lossScaleScalars = null)
    {
        if (precision == Precision.Fp32) throw new ArgumentException("a cast to 16 bits needs fp16 or bf16", nameof(precision));
        if (lossScaleScalars is not null && precision != Precision.Fp16) throw new ArgumentException("only fp16 uses a loss scale", nameof(lossScaleScalars));
        if (x.Length % 4 != 0 || x.Length / 4 > uint.MaxValue) throw new ArgumentException($"{x} is not a whole number of fp32 elements a kernel can index");
        uint count = (uint)(x.Length / 4);
        if (y.Length != count * 2L) throw new ArgumentException($"cast: {y} must hold {count} 16-bit elements");
        string variant = precision == Precision.Bf16 ? "cast_bf16" : lossScaleScalars is null ? "cast_f16" : "cast_f16_loss_scaled";
        Kernel kernel = commands.Context.Kernels.Get(variant, WorkgroupSize);
        foreach (var (first, chunk) in KernelShapes.BindingChunks(commands.Context.Info, count, "cast", sizeof(float), 2))
        {
            uint groups = KernelStyle.GridStrideGroups(commands.Context.Info, (uint)chunk, WorkgroupSize);
            var push = new CountPush((uint)chunk);
            BufferSlice from = x.Elements<float>(first, chunk), to = y.Slice(2 * first, 2 * chunk);
            if (lossScaleScalars is BufferSlice scalars)
                commands.Dispatch(kernel, groups, 1, 1, push, Binding.Read(from), Binding.Write(to), Binding.Read(scalars.Slice(0, StepScalars.ByteLength)));
            else
                commands.Dispatch(kernel, groups, 1, 1, push, Binding.Read(from), Binding.Write(to));
        }
    }
}
