using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Experiments;

/// <summary>A bootstrap interval of one quantity, and whether the data pin it down (see <see cref="FitBootstrap"/>).</summary>
public sealed record BootstrapInterval(double Low, double High, bool Identified, string Note);

/// <summary>
/// The bootstrap intervals of one objective's free constants, keyed by name (fixed ones have none), and how many
/// resamples could not be refitted (the two-stage fit on a resample that drew too few single-epoch runs).
/// </summary>
public sealed record BootstrapIntervals(int Resamples, int Seed, double Level, IReadOnlyDictionary<string, BootstrapInterval> Constants,
    int FailedResamples = 0);

/// <summary>
/// Percentile bootstrap over runs: each resample draws as many runs as there are, with replacement (a vector of draw
/// counts), and refits the law by the point fit's method, starting from the point fit, which is already near the
/// resample's minimum. The joint fit weighs each run by its draw count; the two-stage fit sees each run as many
/// times as it was drawn (the same weighted mean). The resamples are drawn in order from one seeded generator, so
/// the intervals depend only on the seed, not on the order the parallel refits finish.
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
        var random = new Random(seed);
        var drawCounts = new double[resamples][];
        for (int r = 0; r < resamples; r++)
        {
            drawCounts[r] = new double[points.Count];
            for (int draw = 0; draw < points.Count; draw++) drawCounts[r][random.Next(points.Count)]++;
        }
        Func<double[], ScalingLaw?> refit = pointFit.Method == FitMethod.Joint
            ? JointRefit(points, pointFit, fixedConstants, options)
            : TwoStageRefit(points, pointFit, fixedConstants, options);
        var refitted = new ScalingLaw?[resamples];
        Parallel.For(0, resamples, r => refitted[r] = refit(drawCounts[r]));
        var laws = refitted.OfType<ScalingLaw>().ToList();
        int failed = resamples - laws.Count;

        var intervals = new Dictionary<string, BootstrapInterval>(StringComparer.Ordinal);
        foreach (string name in FixedConstants.Names.Except(fixedConstants.FixedNames))
        {
            int index = Array.IndexOf(FixedConstants.Names, name);
            intervals[name] = failed > (1 - Level) / 2 * resamples
                ? FailedInterval(laws.Select(law => law.Constants()[index]).ToList(), failed, resamples)
                : ConstantInterval(name, laws.Select(law => law.Constants()[index]).ToList());
        }
        return (new BootstrapIntervals(resamples, seed, Level, intervals, failed), laws);
    }

    private static Func<double[], ScalingLaw?> JointRefit(IReadOnlyList<FitPoint> points, ObjectiveFit pointFit,
        FixedConstants fixedConstants, FitOptions options)
    {
        var joint = new JointFit(points, fixedConstants, options.HuberDelta);
        return drawCounts => fixedConstants.Apply(joint.Minimize([pointFit.Law], drawCounts, options.Solver).Law);
    }

    /// <summary>
    /// The two-stage fit of the resample from the point fit's constants alone (stage 1 from its A, B, E0, alpha, beta;
    /// stage 2 from its R_D* and R_N*); null where the resample cannot be fitted (too few single-epoch runs drawn).
    /// </summary>
    private static Func<double[], ScalingLaw?> TwoStageRefit(IReadOnlyList<FitPoint> points, ObjectiveFit pointFit,
        FixedConstants fixedConstants, FitOptions options)
    {
        var law = pointFit.Law;
        var fromPointFit = options with
        {
            LogAGrid = [Math.Log(law.A)], LogBGrid = [Math.Log(law.B)], LogE0Grid = [Math.Log(law.E0)],
            AlphaGrid = [law.Alpha], BetaGrid = [law.Beta], RStarGrid = [law.RDStar, law.RNStar],
        };
        return drawCounts =>
        {
            var drawn = points.SelectMany((point, i) => Enumerable.Repeat(point, (int)drawCounts[i])).ToList();
            try
            {
                return ScalingLawFit.Fit(pointFit.Objective, drawn, fixedConstants, fromPointFit, FitMethod.TwoStage).Law;
            }
            catch (InvalidInputException)
            {
                return null;
            }
        };
    }

    /// <summary>More resamples failed than the interval's tail holds: the percentiles of the rest would flatter the fit.</summary>
    private static BootstrapInterval FailedInterval(IReadOnlyList<double> values, int failed, int resamples)
    {
        var (low, high) = values.Count > 0 ? Percentiles(values) : (double.NaN, double.NaN);
        return new BootstrapInterval(low, high, false, $"{failed} of {resamples} resamples could not be fitted (too few single-epoch runs drawn)");
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
