namespace VkDiffusion.Tests.Infrastructure;

/// <summary>Central finite differences in double precision, the independent check of every backward.</summary>
public static class FiniteDifference
{
    /// <summary>
    /// d/dx_i of <paramref name="loss"/> at <paramref name="x"/> for every i, by (f(x + h e_i) - f(x - h e_i)) / 2h.
    /// With h = 1e-5 on O(1) smooth functions the truncation error is ~h^2 |f'''| ~ 1e-10 and the rounding
    /// error ~1e-16 |f| / h ~ 1e-10, so agreement to 1e-7 is a real check.
    /// </summary>
    public static double[] Gradient(Func<double[], double> loss, double[] x, double step = 1e-5)
    {
        var gradient = new double[x.Length];
        var probe = (double[])x.Clone();
        for (int i = 0; i < x.Length; i++)
        {
            probe[i] = x[i] + step;
            double plus = loss(probe);
            probe[i] = x[i] - step;
            double minus = loss(probe);
            probe[i] = x[i];
            gradient[i] = (plus - minus) / (2 * step);
        }
        return gradient;
    }

    /// <summary>sum_i a[i] * b[i]: the scalar loss whose gradient with respect to a is b.</summary>
    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    public static void AssertClose(ReadOnlySpan<double> actual, ReadOnlySpan<double> expected, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < actual.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= tolerance * (1 + Math.Abs(expected[i])),
                $"{what}[{i}]: {actual[i]} vs finite difference {expected[i]} (tolerance {tolerance})");
    }

    public static double[] ToDouble(ReadOnlySpan<float> values)
    {
        var result = new double[values.Length];
        for (int i = 0; i < values.Length; i++) result[i] = values[i];
        return result;
    }

    public static float[] ToFloat(ReadOnlySpan<double> values)
    {
        var result = new float[values.Length];
        for (int i = 0; i < values.Length; i++) result[i] = (float)values[i];
        return result;
    }
}
