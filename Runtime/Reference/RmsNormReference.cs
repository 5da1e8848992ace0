namespace VkDiffusion.Runtime.Reference;

/// <summary>CPU oracle of <see cref="Kernels.RmsNormKernels"/>, in double precision.</summary>
public static class RmsNormReference
{
    public const double Epsilon = 1e-5;

    /// <summary>y = x * rstd * weight, rstd[r] = 1 / sqrt(mean(x[r, :]^2) + 1e-5).</summary>
    public static (double[] Y, double[] Rstd) Forward(ReadOnlySpan<double> x, ReadOnlySpan<double> weight, int rowCount, int channelCount)
    {
        var y = new double[rowCount * channelCount];
        var rstd = new double[rowCount];
        for (int r = 0; r < rowCount; r++)
        {
            rstd[r] = InverseRms(x.Slice(r * channelCount, channelCount));
            for (int c = 0; c < channelCount; c++) y[r * channelCount + c] = x[r * channelCount + c] * rstd[r] * weight[c];
        }
        return (y, rstd);
    }

    /// <summary>
    /// dx[r, c] = rstd (w[c] dy[r, c]) - rstd^3 / C * x[r, c] * sum_k w[k] dy[r, k] x[r, k];
    /// dWeight[c] = sum_r dy[r, c] x[r, c] rstd[r].
    /// </summary>
    public static (double[] Dx, double[] DWeight) Backward(ReadOnlySpan<double> x, ReadOnlySpan<double> weight, ReadOnlySpan<double> dy, int rowCount, int channelCount)
    {
        var dx = new double[rowCount * channelCount];
        var dWeight = new double[channelCount];
        for (int r = 0; r < rowCount; r++)
        {
            int row = r * channelCount;
            double rstd = InverseRms(x.Slice(row, channelCount));
            double dot = 0;
            for (int c = 0; c < channelCount; c++) dot += weight[c] * dy[row + c] * x[row + c];
            for (int c = 0; c < channelCount; c++)
            {
                dx[row + c] = rstd * weight[c] * dy[row + c] - rstd * rstd * rstd / channelCount * x[row + c] * dot;
                dWeight[c] += dy[row + c] * x[row + c] * rstd;
            }
        }
        return (dx, dWeight);
    }

    private static double InverseRms(ReadOnlySpan<double> row)
    {
        double sumOfSquares = 0;
        foreach (double value in row) sumOfSquares += value * value;
        return 1.0 / Math.Sqrt(sumOfSquares / row.Length + Epsilon);
    }
}
