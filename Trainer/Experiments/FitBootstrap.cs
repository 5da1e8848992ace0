namespace VkDiffusion.Trainer.Experiments;

/// <summary>A bootstrap interval of one quantity, and whether the data pin it down (see <see cref="FitBootstrap"/>).</summary>
public sealed record BootstrapInterval(double Low, double High, bool Identified, string Note);

/// <summary>The bootstrap intervals of one objective's free constants, keyed by name (fixed ones have none).</summary>
public sealed record BootstrapIntervals(int Resamples, int Seed, double Level, IReadOnlyDictionary<string, BootstrapInterval> Constants);

/// <summary>
/// Percentile bootstrap over runs: each resample draws as many runs as there are, with replacement (a weight vector of
/// draw counts), and refits the joint law starting from the point fit, which is already near the resample's minimum.
/// The resamples are drawn in order from one seeded generator, so the intervals depend only on the seed, not on
/// the order the parallel refits finish.
/// </summary>
public static class FitBootstrap
{
    public const double Level = 0.90;
    /// <summary>An interval wider than this factor says the data do not pin the constant down.</summary>
    public const double IdentifiedSpan = 10;
    /// <summary>Exponents within this of 0 or of the 1.5 bound, and E0 below it (nats), count as at the bound.</summary>
    private const double BoundMargin = 1e-2;
    /// <summary>A or B below this has a term under 1e-6 nats (N', D' ≥ 1): at its bound of 0.</summary>
    private const double CoefficientFloor = 1e-6;
    /// <summary>R* above this discounts nothing within any sweep's repetitions: the data say only "large".</summary>
    private const double EFoldingCeiling = 1e6;

    public static (BootstrapIntervals Intervals, IReadOnlyList<ScalingLaw> Laws) Run(IReadOnlyList<FitPoint> points, ObjectiveFit pointFit,
        FixedConstants fixedConstants, FitOptions options, int resamples, int seed)
    {
        var joint = new JointFit(points, fixedConstants, options.HuberDelta);
        var random = new Random(seed);
        var weights = new double[resamples][];
        for (int r = 0; r < resamples; r++)
        {
            weights[r] = new double[points.Count];
            for (int draw = 0; draw < points.Count; draw++) weights[r][random.Next(points.Count)]++;
        }
        var laws = new ScalingLaw[resamples];
        Parallel.For(0, resamples, r => laws[r] = fixedConstants.Apply(joint.Minimize([pointFit.Law], weights[r], options.Solver).Law));

        var intervals = new Dictionary<string, BootstrapInterval>(StringComparer.Ordinal);
        foreach (string name in joint.FreeNames)
        {
            int index = Array.IndexOf(FixedConstants.Names, name);
            intervals[name] = ConstantInterval(name, laws.Select(law => law.Constants()[index]).ToList());
        }
        return (new BootstrapIntervals(resamples, seed, Level, intervals), laws);
    }

    /// <summary>The central <see cref="Level"/> interval of the values, linearly interpolated between order statistics.</summary>
    public static (double Low, double High) Percentiles(IReadOnlyList<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        double tail = (1 - Level) / 2;
        return (Quantile(sorted, tail), Quantile(sorted, 1 - tail));
    }

    private static double Quantile(double[] sorted, double probability)
    {
        double position = probability * (sorted.Length - 1);
        int below = (int)Math.Floor(position);
        int above = Math.Min(below + 1, sorted.Length - 1);
        return sorted[below] + (position - below) * (sorted[above] - sorted[below]);
    }

    private static BootstrapInterval ConstantInterval(string name, IReadOnlyList<double> values)
    {
        var (low, high) = Percentiles(values);
        string? bound = name switch
        {
            "alpha" or "beta" when low <= BoundMargin || high >= JointFit.ExponentBound - BoundMargin => $"reaches a bound (0 or {JointFit.ExponentBound})",
            "E0" when low <= BoundMargin => "reaches the bound E0 = 0",
            "A" or "B" when low <= CoefficientFloor => $"reaches the bound {name} = 0: its term vanishes",
            "RDstar" or "RNstar" when high >= EFoldingCeiling => $"runs off above {EFoldingCeiling:G1}: no discount visible",
            _ => null,
        };
        return bound is null ? SpanInterval(low, high) : new BootstrapInterval(low, high, false, bound);
    }

    /// <summary>Identified unless the interval spans more than <see cref="IdentifiedSpan"/>.</summary>
    public static BootstrapInterval SpanInterval(double low, double high) =>
        high > IdentifiedSpan * low
            ? new BootstrapInterval(low, high, false, $"spans a factor {high / low:G2}")
            : new BootstrapInterval(low, high, true, "");
}
