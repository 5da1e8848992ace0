using VkDiffusion.Runtime.Randomness;

namespace VkDiffusion.Runtime.Reference;

/// <summary>
/// The MDM forward process on the CPU, bit-identical to <see cref="Kernels.CorruptionKernels"/> for the same
/// (seed, random step): the trainer's evaluation and the tests use it. Per sequence b, t_b is the Philox
/// uniform (index b, row 0, stream <see cref="Philox4x32.Streams.CorruptionTime"/>), p_b = (1 - eps) t_b + eps
/// in fp32; token i is masked when its uniform (index i, row b, stream <see cref="Philox4x32.Streams.CorruptionMask"/>)
/// is below p_b.
/// </summary>
public static class CorruptionReference
{
    /// <param name="Corrupted">tokens with masked positions replaced by the mask id, [batch, length].</param>
    /// <param name="Weights">1 / p_b at masked positions, 0 elsewhere, [batch, length].</param>
    /// <param name="TValues">t_b per sequence.</param>
    /// <param name="Probabilities">p_b per sequence (fp32, as the GPU computes it).</param>
    /// <param name="Masked">which positions are masked, [batch, length].</param>
    public sealed record Result(uint[] Corrupted, float[] Weights, float[] TValues, float[] Probabilities, bool[] Masked);

    /// <summary>t_b of sequence <paramref name="sequence"/>.</summary>
    public static float Time(ulong seed, uint randomStep, int sequence) =>
        Philox4x32.Uniform(seed, (uint)sequence, 0, randomStep, Philox4x32.Streams.CorruptionTime);

    /// <summary>p = (1 - eps) t + eps, rounded as the GPU rounds it (two fp32 operations, no fused multiply-add).</summary>
    public static float MaskProbability(float t, float eps)
    {
        float oneMinusEps = 1f - eps;
        float product = oneMinusEps * t;
        return product + eps;
    }

    public static Result Corrupt(ReadOnlySpan<uint> tokens, ulong seed, uint randomStep, int batchCount, int sequenceLength, uint maskId, float eps = 1e-3f)
    {
        if (tokens.Length < batchCount * sequenceLength)
            throw new ArgumentException($"{tokens.Length} tokens cannot fill {batchCount} sequences of {sequenceLength}");
        int count = batchCount * sequenceLength;
        var result = new Result(new uint[count], new float[count], new float[batchCount], new float[batchCount], new bool[count]);
        for (int b = 0; b < batchCount; b++)
        {
            float t = Time(seed, randomStep, b);
            float p = MaskProbability(t, eps);
            result.TValues[b] = t;
            result.Probabilities[b] = p;
            for (int i = 0; i < sequenceLength; i++)
            {
                int at = b * sequenceLength + i;
                bool masked = Philox4x32.Uniform(seed, (uint)i, (uint)b, randomStep, Philox4x32.Streams.CorruptionMask) < p;
                result.Masked[at] = masked;
                result.Corrupted[at] = masked ? maskId : tokens[at];
                result.Weights[at] = masked ? (float)(1.0 / p) : 0f;
            }
        }
        return result;
    }
}
