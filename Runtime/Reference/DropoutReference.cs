using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Randomness;

namespace VkDiffusion.Runtime.Reference;

/// <summary>CPU oracle of <see cref="DropoutKernels"/>: the same Philox draws, the same fp32 products (bit-exact).</summary>
public static class DropoutReference
{
    /// <summary>Whether element <paramref name="index"/> survives: its uniform (index, row 0, step, stream) is >= probability.</summary>
    public static bool Keeps(ulong seed, uint randomStep, uint streamId, float probability, int index) =>
        Philox4x32.Uniform(seed, (uint)index, 0, randomStep, streamId) >= probability;

    /// <summary>y = keep ? x * scale : 0 with scale = <see cref="DropoutKernels.Scale"/>; also the backward on dy.</summary>
    public static float[] Apply(ReadOnlySpan<float> x, ulong seed, uint randomStep, uint streamId, float probability)
    {
        float scale = DropoutKernels.Scale(probability);
        var y = new float[x.Length];
        for (int i = 0; i < x.Length; i++) y[i] = Keeps(seed, randomStep, streamId, probability, i) ? x[i] * scale : 0f;
        return y;
    }
}
