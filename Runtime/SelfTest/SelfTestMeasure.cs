using System.Runtime.InteropServices;

namespace VkDiffusion.Runtime.SelfTest;

/// <summary>Error measures and deterministic inputs shared by the self-test checks.</summary>
public static class SelfTestMeasure
{
    /// <summary>
    /// max_i |actual_i - expected_i| / max_i |expected_i| (the plain maximum difference when the
    /// reference is all zeros); NaN when any compared value is not finite where the reference is.
    /// </summary>
    public static double NormwiseRelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected)
    {
        if (actual.Length != expected.Length) throw new ArgumentException($"comparing {actual.Length} values with {expected.Length}");
        double worst = 0, scale = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double difference = Math.Abs(actual[i] - expected[i]);
            if (double.IsNaN(difference) || double.IsInfinity(difference)) return double.NaN;
            worst = Math.Max(worst, difference);
            scale = Math.Max(scale, Math.Abs(expected[i]));
        }
        return scale == 0 ? worst : worst / scale;
    }

    public static double NormwiseRelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        var widened = new double[expected.Length];
        for (int i = 0; i < widened.Length; i++) widened[i] = expected[i];
        return NormwiseRelativeError(actual, widened);
    }

    /// <summary>
    /// The normwise tolerance that per-element bounds |actual_i - expected_i| &lt;= bound_i imply:
    /// max_i bound_i / max_i |expected_i| (the plain maximum bound when the reference is all zeros, matching
    /// <see cref="NormwiseRelativeError(ReadOnlySpan{float}, ReadOnlySpan{double})"/>). Lets a check reuse
    /// the element-wise bound its kernel's unit tests derive.
    /// </summary>
    public static double NormwiseTolerance(ReadOnlySpan<double> elementBounds, ReadOnlySpan<double> expected)
    {
        if (elementBounds.Length != expected.Length) throw new ArgumentException($"{elementBounds.Length} bounds for {expected.Length} values");
        double worstBound = 0, scale = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            worstBound = Math.Max(worstBound, elementBounds[i]);
            scale = Math.Max(scale, Math.Abs(expected[i]));
        }
        return scale == 0 ? worstBound : worstBound / scale;
    }

    /// <summary>The normwise tolerance that |actual_i - expected_i| &lt;= atol + rtol |expected_i| implies: rtol + atol / max|expected|.</summary>
    public static double NormwiseTolerance(double absoluteTolerance, double relativeTolerance, ReadOnlySpan<double> expected)
    {
        double scale = 0;
        foreach (double value in expected) scale = Math.Max(scale, Math.Abs(value));
        return scale == 0 ? absoluteTolerance : relativeTolerance + absoluteTolerance / scale;
    }

    /// <summary>How many elements differ in their bits (the error of a bit-exact kernel; tolerance 0).</summary>
    public static int Mismatches<T>(ReadOnlySpan<T> actual, ReadOnlySpan<T> expected) where T : unmanaged, IEquatable<T>
    {
        if (actual.Length != expected.Length) throw new ArgumentException($"comparing {actual.Length} values with {expected.Length}");
        int count = 0;
        for (int i = 0; i < actual.Length; i++)
            if (!actual[i].Equals(expected[i])) count++;
        return count;
    }

    /// <summary>How many floats differ in their bits (so -0 differs from +0 and NaN equals the same NaN).</summary>
    public static int BitMismatches(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected) =>
        Mismatches<uint>(MemoryMarshal.Cast<float, uint>(actual), MemoryMarshal.Cast<float, uint>(expected));

    public static double[] ToDouble(ReadOnlySpan<float> values)
    {
        var result = new double[values.Length];
        for (int i = 0; i < values.Length; i++) result[i] = values[i];
        return result;
    }

    /// <summary>Uniform values in [low, high) from a fixed seed, identical on every machine.</summary>
    public static float[] Uniform(int count, int seed, float low = -1f, float high = 1f)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = low + (high - low) * random.NextSingle();
        return values;
    }

    /// <summary>Normal values N(0, std^2) from a fixed seed (Box-Muller).</summary>
    public static float[] Normal(int count, int seed, float std = 1f)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++)
            values[i] = (float)(std * Math.Sqrt(-2 * Math.Log(1.0 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        return values;
    }
}
