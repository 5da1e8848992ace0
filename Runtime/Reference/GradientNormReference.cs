namespace VkDiffusion.Runtime.Reference;

/// <summary>The global gradient norm and clip scale in double: the oracle for <see cref="Kernels.GradientNormKernels"/>.</summary>
public static class GradientNormReference
{
    public static double Norm(IEnumerable<float[]> gradients)
    {
        double sumOfSquares = 0;
        foreach (float[] gradient in gradients)
            foreach (float g in gradient) sumOfSquares += (double)g * g;
        return Math.Sqrt(sumOfSquares);
    }

    /// <summary>clipNorm / (norm + 1e-6) when clipping is on (clipNorm > 0) and the norm exceeds it, else 1.</summary>
    public static double ClipScale(double norm, double clipNorm) => clipNorm > 0 && norm > clipNorm ? clipNorm / (norm + 1e-6) : 1.0;
}
