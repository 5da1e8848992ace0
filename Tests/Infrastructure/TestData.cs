using VkDiffusion.Runtime.SelfTest;

namespace VkDiffusion.Tests.Infrastructure;

/// <summary>Deterministic random inputs for tests.</summary>
public static class TestData
{
    public static float[] Uniform(int count, int seed, float low = -1f, float high = 1f) => SelfTestMeasure.Uniform(count, seed, low, high);

    public static float[] Normal(int count, int seed, float std = 1f) => SelfTestMeasure.Normal(count, seed, std);

    /// <summary>Largest |a - b| / (atol + rtol * |b|); at most 1 means within tolerance.</summary>
    public static double MaxToleranceRatio(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double atol, double rtol)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double error = Math.Abs((double)actual[i] - expected[i]);
            if (double.IsNaN(error)) return double.PositiveInfinity;
            worst = Math.Max(worst, error / (atol + rtol * Math.Abs(expected[i])));
        }
        return worst;
    }

    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double atol, double rtol, string what = "")
    {
        double ratio = MaxToleranceRatio(actual, expected, atol, rtol);
        Assert.True(ratio <= 1, $"{what}: worst error is {ratio:F2}x the tolerance (atol {atol}, rtol {rtol})");
    }
}
