namespace VkDiffusion.Runtime.Reference;

/// <summary>
/// CPU oracle of <see cref="Kernels.RopeKernels"/> on fused QKV [tokenCount, 3 * headCount * headDim]
/// ([Q all heads | K all heads | V all heads] per token): rotate-half RoPE on Q and K, V untouched.
/// </summary>
public static class RopeReference
{
    /// <summary>
    /// The angle of pair <paramref name="pairIndex"/> at <paramref name="position"/>, in the fp32 convention of the
    /// reference implementations (GPT-NeoX, Hugging Face): inv_freq = theta^(-2i/headDim) rounded to fp32, the
    /// angle = position * inv_freq rounded to fp32; sine and cosine of that are then exact (double).
    /// </summary>
    public static double Angle(uint position, int pairIndex, int headDim, double theta)
    {
        float inverseFrequency = (float)Math.Pow(theta, -2.0 * pairIndex / headDim);
        return (float)position * inverseFrequency;
    }

    public static double[] Forward(ReadOnlySpan<double> qkv, ReadOnlySpan<uint> positions, int tokenCount, int headCount, int headDim, double theta = 10000) =>
        Rotate(qkv, positions, tokenCount, headCount, headDim, theta, direction: 1);

    /// <summary>The backward: rotation by -angle, the transpose of the forward rotation.</summary>
    public static double[] Backward(ReadOnlySpan<double> dQkv, ReadOnlySpan<uint> positions, int tokenCount, int headCount, int headDim, double theta = 10000) =>
        Rotate(dQkv, positions, tokenCount, headCount, headDim, theta, direction: -1);

    private static double[] Rotate(ReadOnlySpan<double> qkv, ReadOnlySpan<uint> positions, int tokenCount, int headCount, int headDim, double theta, int direction)
    {
        double[] result = qkv.Slice(0, tokenCount * 3 * headCount * headDim).ToArray();
        int half = headDim / 2;
        for (int t = 0; t < tokenCount; t++)
            for (int head = 0; head < 2 * headCount; head++) // the Q heads, then the K heads
                for (int i = 0; i < half; i++)
                {
                    double angle = Angle(positions[t], i, headDim, theta);
                    double cos = Math.Cos(angle), sin = direction * Math.Sin(angle);
                    int a = (t * 3 * headCount + head) * headDim + i, b = a + half;
                    double first = qkv[a], second = qkv[b];
                    result[a] = first * cos - second * sin;
                    result[b] = second * cos + first * sin;
                }
        return result;
    }
}
