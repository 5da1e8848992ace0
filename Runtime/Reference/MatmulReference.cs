namespace VkDiffusion.Runtime.Reference;

/// <summary>
/// Plain CPU versions of <see cref="Kernels.MatmulKernels"/>, accumulated in double: the oracle for tests.
/// Shapes: x [rows, in], w [out, in] (row-major), dy and y [rows, out].
/// </summary>
public static class MatmulReference
{
    /// <summary>Y[m, n] = sum_k X[m, k] W[n, k].</summary>
    public static double[] Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> w, int rowCount, int inFeatures, int outFeatures)
    {
        var y = new double[rowCount * outFeatures];
        for (int m = 0; m < rowCount; m++)
            for (int n = 0; n < outFeatures; n++)
            {
                double sum = 0;
                for (int k = 0; k < inFeatures; k++) sum += (double)x[m * inFeatures + k] * w[n * inFeatures + k];
                y[m * outFeatures + n] = sum;
            }
        return y;
    }

    /// <summary>dX[m, k] = sum_n dY[m, n] W[n, k].</summary>
    public static double[] BackwardInput(ReadOnlySpan<float> dy, ReadOnlySpan<float> w, int rowCount, int inFeatures, int outFeatures)
    {
        var dx = new double[rowCount * inFeatures];
        for (int m = 0; m < rowCount; m++)
            for (int k = 0; k < inFeatures; k++)
            {
                double sum = 0;
                for (int n = 0; n < outFeatures; n++) sum += (double)dy[m * outFeatures + n] * w[n * inFeatures + k];
                dx[m * inFeatures + k] = sum;
            }
        return dx;
    }

    /// <summary>dW[n, k] = sum_m dY[m, n] X[m, k].</summary>
    public static double[] BackwardWeight(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, int rowCount, int inFeatures, int outFeatures)
    {
        var dw = new double[outFeatures * inFeatures];
        for (int n = 0; n < outFeatures; n++)
            for (int k = 0; k < inFeatures; k++)
            {
                double sum = 0;
                for (int m = 0; m < rowCount; m++) sum += (double)dy[m * outFeatures + n] * x[m * inFeatures + k];
                dw[n * inFeatures + k] = sum;
            }
        return dw;
    }
}
