using VkDiffusion.Runtime.Vulkan;
using static VkDiffusion.Runtime.Kernels.KernelShapes;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// Rotary position embedding, rotate-half (GPT-NeoX) convention, in place on fused QKV activations
/// [tokenCount, 3 * headCount * headDim] laid out per token as [Q all heads | K all heads | V all heads]
/// (Shaders/rope.comp). angle_i = position * theta^(-2i/headDim) for i &lt; headDim/2, used by both halves:
/// q' = q * cos + rotate_half(q) * sin with rotate_half(q) = [-q2, q1]. V is untouched. Under mixed precision
/// <see cref="ForwardTo16Bit"/> writes the 16-bit attention input in the same pass instead. Tokens are independent, so
/// activations bigger than one binding go in runs of tokens.
/// </summary>
public static class RopeKernels
{
    // Lanes take the H * D rotated columns of a token (Q and K pairs); 64 suits small models' widths.
    private const uint WorkgroupSize = 64;

    private readonly record struct Push(uint TokenCount, uint HeadCount, uint HeadDim, float ExponentStep, float Direction);

    /// <summary>Rotates Q and K of every token by its angles; positions: uint32[tokenCount].</summary>
    public static void Forward(CommandList c, BufferSlice qkv, BufferSlice positions, int tokenCount, int headCount, int headDim, float theta = 10000f) =>
        Rotate(c, qkv, positions, tokenCount, headCount, headDim, theta, direction: 1f);

    /// <summary>
    /// rotated = qkv with Q and K rotated and V as it is, each element rounded to <paramref name="precision"/> (fp16 or bf16,
    /// to nearest even as <see cref="CastKernels"/> rounds): the 16-bit attention input in one pass. qkv is not written.
    /// </summary>
    public static void ForwardTo16Bit(CommandList c, BufferSlice qkv, BufferSlice positions, BufferSlice rotated, Precision precision,
        int tokenCount, int headCount, int headDim, float theta = 10000f)
    {
        if (precision == Precision.Fp32) throw new ArgumentException("rope: a 16-bit output needs fp16 or bf16", nameof(precision));
        long elements = 3L * tokenCount * headCount * headDim;
        if (rotated.Length != elements * 2) throw new ArgumentException($"rope: {rotated} must hold {elements} 16-bit elements", nameof(rotated));
        Rotate(c, qkv, positions, tokenCount, headCount, headDim, theta, direction: 1f, (rotated, precision));
    }

    /// <summary>The backward, in place on dQKV: the rotation by -angle (the transpose of the forward).</summary>
    public static void Backward(CommandList c, BufferSlice dQkv, BufferSlice positions, int tokenCount, int headCount, int headDim, float theta = 10000f) =>
        Rotate(c, dQkv, positions, tokenCount, headCount, headDim, theta, direction: -1f);

    // Rotates qkv in place, or into output16 (rotated Q and K, V copied) in its 16-bit format.
    private static void Rotate(CommandList c, BufferSlice qkv, BufferSlice positions, int tokenCount, int headCount, int headDim, float theta,
        float direction, (BufferSlice Slice, Precision Format)? output16 = null)
    {
        uint tokens = Positive(tokenCount, nameof(tokenCount)), heads = Positive(headCount, nameof(headCount)), dim = Positive(headDim, nameof(headDim));
        if (dim % 2 != 0) throw new ArgumentException($"rope: headDim {headDim} must be even");
        if (!(theta > 1f) || float.IsInfinity(theta)) throw new ArgumentOutOfRangeException(nameof(theta), theta, "rope: theta must be a finite value above 1");
        const string op = "rope";
        float exponentStep = (float)(-2.0 * Math.Log2(theta) / dim);
        uint rotatedColumns = Positive((long)heads * dim, "headCount * headDim");
        long rowElements = 3L * heads * dim;
        Require(qkv, tokens * rowElements, op, nameof(qkv));
        Require(positions, tokens, op, nameof(positions));
        foreach (var (first, count) in BindingChunks(c.Context.Info, tokens, op, 4 * rowElements, sizeof(uint), 2 * rowElements))
        {
            var (groupsX, groupsY) = KernelStyle.ColumnRowGrid(c.Context.Info, (uint)count, rotatedColumns, WorkgroupSize);
            var push = new Push((uint)count, heads, dim, exponentStep, direction);
            BufferSlice qkvRows = qkv.Elements<float>(first * rowElements, count * rowElements), positionRows = positions.Elements<uint>(first, count);
            if (output16 is not { } output)
                c.Dispatch(c.Context.Kernels.Get("rope", WorkgroupSize), groupsX, groupsY, 1, push, Binding.Write(qkvRows), Binding.Read(positionRows));
            else
                c.Dispatch(c.Context.Kernels.Get("rope_to" + output.Format.VariantSuffix(), WorkgroupSize), groupsX, groupsY, 1, push,
                    Binding.Read(qkvRows), Binding.Read(positionRows), Binding.Write(output.Slice.Slice(2 * first * rowElements, 2 * count * rowElements)));
        }
    }
}
