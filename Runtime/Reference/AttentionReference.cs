namespace VkDiffusion.Runtime.Reference;

/// <summary>
/// Textbook attention on the CPU in double: O = softmax(Q Kᵀ / √headDim) V (causal: query i sees keys 0..i),
/// with the full score matrix of each (batch, head) materialised. Same layouts as
/// <see cref="Kernels.AttentionKernels"/>: qkv [batch, seq, 3, heads, headDim], output [batch, seq, heads,
/// headDim], logSumExp [batch, heads, seq]. The oracle for tests, not a product path.
/// </summary>
public static class AttentionReference
{
    public static (float[] Output, float[] LogSumExp) Forward(ReadOnlySpan<float> qkv, int batchCount, int sequenceLength, int headCount,
        int headDim, bool causal)
    {
        var (output, logSumExp) = Forward(ToDouble(qkv), batchCount, sequenceLength, headCount, headDim, causal);
        return (Array.ConvertAll(output, v => (float)v), Array.ConvertAll(logSumExp, v => (float)v));
    }

    /// <summary>The forward on double inputs, unrounded (finite differences need every digit).</summary>
    public static (double[] Output, double[] LogSumExp) Forward(double[] qkv, int batchCount, int sequenceLength, int headCount,
        int headDim, bool causal)
    {
        int T = sequenceLength;
        var output = new double[batchCount * T * headCount * headDim];
        var logSumExp = new double[batchCount * headCount * T];
        for (int b = 0; b < batchCount; b++)
            for (int h = 0; h < headCount; h++)
            {
                double[,] probabilities = Probabilities(qkv, b, h, T, headCount, headDim, causal, out double[] rowLse);
                for (int i = 0; i < T; i++)
                {
                    logSumExp[(b * headCount + h) * T + i] = rowLse[i];
                    for (int d = 0; d < headDim; d++)
                    {
                        double sum = 0;
                        for (int j = 0; j < T; j++) sum += probabilities[i, j] * qkv[QkvIndex(b, j, 2, h, d, T, headCount, headDim)];
                        output[RowIndex(b, i, h, d, T, headCount, headDim)] = sum;
                    }
                }
            }
        return (output, logSumExp);
    }

    /// <summary>dQkv (qkv layout) of the loss whose gradient with respect to the output is <paramref name="dOutput"/>.</summary>
    public static float[] Backward(ReadOnlySpan<float> qkv, ReadOnlySpan<float> dOutput, int batchCount, int sequenceLength, int headCount,
        int headDim, bool causal) =>
        Array.ConvertAll(Backward(ToDouble(qkv), ToDouble(dOutput), batchCount, sequenceLength, headCount, headDim, causal), v => (float)v);

    public static double[] Backward(double[] qkv, double[] dOutput, int batchCount, int sequenceLength, int headCount,
        int headDim, bool causal)
    {
        int T = sequenceLength;
        double scale = 1 / Math.Sqrt(headDim);
        var dQkv = new double[qkv.Length];
        for (int b = 0; b < batchCount; b++)
            for (int h = 0; h < headCount; h++)
            {
                double[,] p = Probabilities(qkv, b, h, T, headCount, headDim, causal, out _);
                // dP = dO Vᵀ; dS = P ∘ (dP − rowsum(P ∘ dP)) (the softmax backward), on raw scores Q Kᵀ it gains the scale.
                var dScores = new double[T, T];
                for (int i = 0; i < T; i++)
                {
                    var dP = new double[T];
                    double rowDot = 0;
                    for (int j = 0; j < T; j++)
                    {
                        double sum = 0;
                        for (int d = 0; d < headDim; d++)
                            sum += dOutput[RowIndex(b, i, h, d, T, headCount, headDim)] * qkv[QkvIndex(b, j, 2, h, d, T, headCount, headDim)];
                        dP[j] = sum;
                        rowDot += p[i, j] * sum;
                    }
                    for (int j = 0; j < T; j++) dScores[i, j] = p[i, j] * (dP[j] - rowDot) * scale;
                }
                for (int i = 0; i < T; i++)
                    for (int d = 0; d < headDim; d++)
                    {
                        double dq = 0, dk = 0, dv = 0;
                        for (int j = 0; j < T; j++)
                        {
                            dq += dScores[i, j] * qkv[QkvIndex(b, j, 1, h, d, T, headCount, headDim)];   // dQ_i = Σ_j dS_ij K_j
                            dk += dScores[j, i] * qkv[QkvIndex(b, j, 0, h, d, T, headCount, headDim)];   // dK_i = Σ_j dS_ji Q_j
                            dv += p[j, i] * dOutput[RowIndex(b, j, h, d, T, headCount, headDim)];        // dV_i = Σ_j P_ji dO_j
                        }
                        dQkv[QkvIndex(b, i, 0, h, d, T, headCount, headDim)] = dq;
                        dQkv[QkvIndex(b, i, 1, h, d, T, headCount, headDim)] = dk;
                        dQkv[QkvIndex(b, i, 2, h, d, T, headCount, headDim)] = dv;
                    }
            }
        return dQkv;
    }

    /// <summary>P[i, j] = softmax over visible j of Q_i · K_j / √headDim for batch b, head h (0 where masked).</summary>
    internal static double[,] Probabilities(double[] qkv, int b, int h, int T, int headCount, int headDim, bool causal, out double[] logSumExp)
    {
        double scale = 1 / Math.Sqrt(headDim);
        var p = new double[T, T];
        logSumExp = new double[T];
        for (int i = 0; i < T; i++)
        {
            int visible = causal ? i + 1 : T;
            double max = double.NegativeInfinity;
            for (int j = 0; j < visible; j++)
            {
                double dot = 0;
                for (int d = 0; d < headDim; d++)
                    dot += qkv[QkvIndex(b, i, 0, h, d, T, headCount, headDim)] * qkv[QkvIndex(b, j, 1, h, d, T, headCount, headDim)];
                p[i, j] = dot * scale;
                max = Math.Max(max, p[i, j]);
            }
            double sum = 0;
            for (int j = 0; j < visible; j++) sum += Math.Exp(p[i, j] - max);
            for (int j = 0; j < visible; j++) p[i, j] = Math.Exp(p[i, j] - max) / sum;
            logSumExp[i] = max + Math.Log(sum);
        }
        return p;
    }

    private static double[] ToDouble(ReadOnlySpan<float> values)
    {
        var result = new double[values.Length];
        for (int i = 0; i < values.Length; i++) result[i] = values[i];
        return result;
    }

    public static int QkvIndex(int b, int t, int part, int h, int d, int T, int headCount, int headDim) =>
        (((b * T + t) * 3 + part) * headCount + h) * headDim + d;

    public static int RowIndex(int b, int t, int h, int d, int T, int headCount, int headDim) => ((b * T + t) * headCount + h) * headDim + d;
}
