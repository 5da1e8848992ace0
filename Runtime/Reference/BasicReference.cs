namespace VkDiffusion.Runtime.Reference;

/// <summary>Plain CPU versions of <see cref="Kernels.BasicKernels"/>: the oracle for tests.</summary>
public static class BasicReference
{
    public static float[] Fill(int count, float value) => Enumerable.Repeat(value, count).ToArray();

    public static float[] Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var y = new float[a.Length];
        for (int i = 0; i < y.Length; i++) y[i] = a[i] + b[i];
        return y;
    }

    public static float[] Multiply(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var y = new float[a.Length];
        for (int i = 0; i < y.Length; i++) y[i] = a[i] * b[i];
        return y;
    }

    public static float[] Scale(ReadOnlySpan<float> x, float factor)
    {
        var y = new float[x.Length];
        for (int i = 0; i < y.Length; i++) y[i] = factor * x[i];
        return y;
    }

    /// <summary>The exact sum, accumulated in double.</summary>
    public static double Sum(ReadOnlySpan<float> x)
    {
        double sum = 0;
        foreach (float value in x) sum += value;
        return sum;
    }
}
