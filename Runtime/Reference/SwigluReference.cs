namespace VkDiffusion.Runtime.Reference;

/// <summary>CPU oracle of <see cref="Kernels.SwigluKernels"/>: h [rows, 2F] = [gate | up], y = silu(gate) * up.</summary>
public static class SwigluReference
{
    public static double[] Forward(ReadOnlySpan<double> h, int rowCount, int hiddenCount)
    {
        var y = new double[rowCount * hiddenCount];
        for (int r = 0; r < rowCount; r++)
            for (int j = 0; j < hiddenCount; j++)
            {
                double gate = h[2 * hiddenCount * r + j], up = h[2 * hiddenCount * r + hiddenCount + j];
                y[r * hiddenCount + j] = gate * Sigmoid(gate) * up;
            }
        return y;
    }

    /// <summary>dgate = dy * up * (sigmoid(g) + g * sigmoid(g) * (1 - sigmoid(g))); dup = dy * silu(g).</summary>
    public static double[] Backward(ReadOnlySpan<double> h, ReadOnlySpan<double> dy, int rowCount, int hiddenCount)
    {
        var dh = new double[2 * rowCount * hiddenCount];
        for (int r = 0; r < rowCount; r++)
            for (int j = 0; j < hiddenCount; j++)
            {
                int gateAt = 2 * hiddenCount * r + j;
                double gate = h[gateAt], up = h[gateAt + hiddenCount], gradient = dy[r * hiddenCount + j];
                double sigmoid = Sigmoid(gate);
                dh[gateAt] = gradient * up * (sigmoid + gate * sigmoid * (1 - sigmoid));
                dh[gateAt + hiddenCount] = gradient * gate * sigmoid;
            }
        return dh;
    }

    private static double Sigmoid(double value) => 1.0 / (1.0 + Math.Exp(-value));
}
