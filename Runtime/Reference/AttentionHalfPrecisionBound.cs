namespace VkDiffusion.Runtime.Reference;

/// <summary>
/// Element-wise error bounds for attention computed the way the cooperative-matrix kernels compute it: every
/// product operand rounded to fp16 (unit roundoff u = 2^-11), each fp16 product possibly rounded to fp16 too (the
/// lavapipe emulation layer does; tensor cores do not), fp32 accumulation, softmax statistics and delta in fp32.
/// Derived to first order in u, with the softmax perturbation kept exact (e^x - 1):
/// <list type="bullet">
/// <item>a score S_ij = scale Q_i·K_j is off by at most e_ij = (3u + f) scale Σ_d |Q_id||K_jd| (Q, K and their
/// product rounded; f the fp32 accumulation term (T + D + 4) 2^-24); e_i is the largest over the keys row i sees;</item>
/// <item>then P_ij = exp(S_ij - LSE_i) is off by at most P_ij (e^{2 e_i} - 1), LSE_i by e_i (+ fp32 rounding);</item>
/// <item>O_i = Σ_j P_ij V_j by Σ_j P_ij |V_j| ((e^{2 e_i} - 1)(1 + 3u) + 3u + f) (P, V and their product rounded),
/// and likewise dV_j = Σ_i P_ij dO_i with dO for V;</item>
/// <item>dP_ij = dO_i·V_j by (3u + f) Σ_d |dO_id||V_jd|; delta_i = dO_i·O_i (from the kernels' own O) by
/// Σ_d |dO_id| (bound of O_id); dS_ij = P_ij (dP_ij - delta_i) by
/// P_ij ((e^{2 e_i} - 1) |dP_ij - delta_i| + e^{2 e_i} (bound of dP_ij + bound of delta_i)) + u |dS_ij|;</item>
/// <item>dQ_i = scale Σ_j dS_ij K_j by scale Σ_j ((1 + 3u) bound of dS_ij + (3u + f) |dS_ij|) |K_j|, and dK_j
/// = scale Σ_i dS_ij Q_i likewise.</item>
/// </list>
/// Layouts as <see cref="AttentionReference"/>. For tests and the self-test, O(B·H·T²·D).
/// </summary>
public static class AttentionHalfPrecisionBound
{
    private static readonly double HalfUnit = Math.Pow(2, -11);

    public sealed record Bounds(double[] Output, double[] LogSumExp, double[] QkvGrad);

    public static Bounds Compute(double[] qkv, double[] dOutput, int batchCount, int sequenceLength, int headCount, int headDim, bool causal)
    {
        int T = sequenceLength, H = headCount, D = headDim;
        double scale = 1 / Math.Sqrt(D);
        double u = HalfUnit, fp32 = (T + D + 4) * Math.Pow(2, -24), productUnit = 3 * u + fp32;
        var output = new double[batchCount * T * H * D];
        var logSumExp = new double[batchCount * H * T];
        var qkvGrad = new double[qkv.Length];
        double Q(int b, int t, int h, int d) => qkv[AttentionReference.QkvIndex(b, t, 0, h, d, T, H, D)];
        double K(int b, int t, int h, int d) => qkv[AttentionReference.QkvIndex(b, t, 1, h, d, T, H, D)];
        double V(int b, int t, int h, int d) => qkv[AttentionReference.QkvIndex(b, t, 2, h, d, T, H, D)];
        double OutGrad(int b, int t, int h, int d) => dOutput[AttentionReference.RowIndex(b, t, h, d, T, H, D)];

        for (int b = 0; b < batchCount; b++)
            for (int h = 0; h < H; h++)
            {
                double[,] p = AttentionReference.Probabilities(qkv, b, h, T, H, D, causal, out double[] lse);
                // growth[i] = e^{2 e_i} - 1: the relative perturbation of row i's probabilities.
                var growth = new double[T];
                for (int i = 0; i < T; i++)
                {
                    double rowScoreBound = 0;
                    for (int j = 0; j < (causal ? i + 1 : T); j++)
                    {
                        double absoluteDot = 0;
                        for (int d = 0; d < D; d++) absoluteDot += Math.Abs(Q(b, i, h, d)) * Math.Abs(K(b, j, h, d));
                        rowScoreBound = Math.Max(rowScoreBound, productUnit * scale * absoluteDot);
                    }
                    growth[i] = Math.Exp(2 * rowScoreBound) - 1;
                    logSumExp[(b * H + h) * T + i] = rowScoreBound + fp32 * Math.Abs(lse[i]);
                }
                var deltaBound = new double[T];
                var dS = new double[T, T];
                var dSBound = new double[T, T];
                for (int i = 0; i < T; i++)
                {
                    double weightedFactor = growth[i] * (1 + 3 * u) + 3 * u + fp32;
                    for (int d = 0; d < D; d++)
                    {
                        double absoluteOutput = 0, signedOutput = 0;
                        for (int j = 0; j < T; j++)
                        {
                            absoluteOutput += p[i, j] * Math.Abs(V(b, j, h, d));
                            signedOutput += p[i, j] * V(b, j, h, d);
                        }
                        double bound = weightedFactor * absoluteOutput;
                        output[AttentionReference.RowIndex(b, i, h, d, T, H, D)] = bound;
                        deltaBound[i] += Math.Abs(OutGrad(b, i, h, d)) * (bound + fp32 * Math.Abs(signedOutput));
                    }
                    var dP = new double[T];
                    var dPBound = new double[T];
                    double delta = 0;
                    for (int j = 0; j < T; j++)
                    {
                        double dot = 0, absoluteDot = 0;
                        for (int d = 0; d < D; d++)
                        {
                            dot += OutGrad(b, i, h, d) * V(b, j, h, d);
                            absoluteDot += Math.Abs(OutGrad(b, i, h, d) * V(b, j, h, d));
                        }
                        dP[j] = dot;
                        dPBound[j] = productUnit * absoluteDot;
                        delta += p[i, j] * dot;
                    }
                    for (int j = 0; j < T; j++)
                    {
                        dS[i, j] = p[i, j] * (dP[j] - delta);
                        dSBound[i, j] = p[i, j] * (growth[i] * Math.Abs(dP[j] - delta) + (1 + growth[i]) * (dPBound[j] + deltaBound[i]))
                            + u * Math.Abs(dS[i, j]);
                    }
                }
                for (int t = 0; t < T; t++)
                    for (int d = 0; d < D; d++)
                    {
                        double queryGrad = 0, keyGrad = 0, valueGrad = 0;
                        for (int other = 0; other < T; other++)
                        {
                            queryGrad += ((1 + 3 * u) * dSBound[t, other] + productUnit * Math.Abs(dS[t, other])) * Math.Abs(K(b, other, h, d));
                            keyGrad += ((1 + 3 * u) * dSBound[other, t] + productUnit * Math.Abs(dS[other, t])) * Math.Abs(Q(b, other, h, d));
                            valueGrad += p[other, t] * Math.Abs(OutGrad(b, other, h, d)) * (growth[other] * (1 + 3 * u) + 3 * u + fp32);
                        }
                        qkvGrad[AttentionReference.QkvIndex(b, t, 0, h, d, T, H, D)] = scale * queryGrad;
                        qkvGrad[AttentionReference.QkvIndex(b, t, 1, h, d, T, H, D)] = scale * keyGrad;
                        qkvGrad[AttentionReference.QkvIndex(b, t, 2, h, d, T, H, D)] = valueGrad;
                    }
            }
        return new Bounds(output, logSumExp, qkvGrad);
    }
}
