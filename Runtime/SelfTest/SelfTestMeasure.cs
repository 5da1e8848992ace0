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
