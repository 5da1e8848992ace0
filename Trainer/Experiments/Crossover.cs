namespace VkDiffusion.Trainer.Experiments;

/// <summary>The compute-optimal loss of one family at compute C and U unique tokens, and the size that reaches it.</summary>
public readonly record struct OptimalRun(double Loss, double Params, double Tokens);

/// <summary>Where diffusion starts to beat AR for one unique-token budget; null CriticalCompute when it does not in range.</summary>
public sealed record CrossoverPoint(double UniqueTokens, double? CriticalCompute, OptimalRun? Ar, OptimalRun? Mdm, string Note);

/// <summary>C_crit at one budget from the point fits, with its bootstrap interval over paired AR and MDM resamples.</summary>
public sealed record CriticalComputeInterval(double UniqueTokens, double? CriticalCompute, BootstrapInterval Interval, int ResamplesWithoutCrossover);

/// <summary>y = Coefficient·x^Exponent, fitted by least squares on log y against log x.</summary>
public sealed record PowerLawFit(double Coefficient, double Exponent)
{
    public double Evaluate(double x) => Coefficient * Math.Pow(x, Exponent);
}

/// <summary>
/// The crossover of PAPER.md §6: Delta L(C, U) = L_MDM(C, U) - L_AR(C, U), each family's loss minimised over N at
/// D = C/(6N). C_crit(U) is the compute where Delta L changes sign from AR ahead (+) to MDM ahead (-).
/// </summary>
public static class Crossover
{
    public const double DefaultMinCompute = 1e12, DefaultMaxCompute = 1e30;
    private const int ParamGridPoints = 400, ComputeGridPoints = 241;
    private const double LogParamSpan = 55; // nats of N scanned below N = C/6 (D = 1): D up to ~7.7e23 tokens

    /// <summary>
    /// min over N of L(N, C/(6N), U): a scan over ln N (N from C/6·e^-55 to C/6), then golden-section search in the
    /// bracket around the best grid point. L is unimodal in ln N (a falling parameter term and a rising data term;
    /// the data-constrained discounts only flatten them), so the bracket holds the minimum.
    /// </summary>
    public static OptimalRun MinimumLoss(ScalingLaw law, double compute, double uniqueTokens)
    {
        double top = Math.Log(compute / 6), bottom = top - LogParamSpan;
        double LossAt(double logParams)
        {
            double parameters = Math.Exp(logParams);
            return law.Loss(parameters, compute / (6 * parameters), uniqueTokens);
        }
        double spacing = (top - bottom) / (ParamGridPoints - 1);
        int bestIndex = 0;
        double bestLoss = double.PositiveInfinity;
        for (int i = 0; i < ParamGridPoints; i++)
        {
            double loss = LossAt(bottom + i * spacing);
            if (loss < bestLoss) { bestLoss = loss; bestIndex = i; }
        }
        double low = bottom + Math.Max(bestIndex - 1, 0) * spacing, high = bottom + Math.Min(bestIndex + 1, ParamGridPoints - 1) * spacing;
        double logBest = GoldenSectionMinimum(LossAt, low, high, 1e-10);
        double bestParams = Math.Exp(logBest);
        return new OptimalRun(LossAt(logBest), bestParams, compute / (6 * bestParams));
    }

    public static double LossGap(ScalingLaw mdm, ScalingLaw ar, double compute, double uniqueTokens) =>
        MinimumLoss(mdm, compute, uniqueTokens).Loss - MinimumLoss(ar, compute, uniqueTokens).Loss;

    /// <summary>
    /// The first compute in [minCompute, maxCompute] where Delta L goes from positive to non-positive: a scan over
    /// ln C brackets the sign change, bisection on ln C refines it to 1e-12 relative.
    /// </summary>
    public static CrossoverPoint CriticalCompute(ScalingLaw mdm, ScalingLaw ar, double uniqueTokens,
        double minCompute = DefaultMinCompute, double maxCompute = DefaultMaxCompute)
    {
        double lowLog = Math.Log(minCompute), highLog = Math.Log(maxCompute);
        double spacing = (highLog - lowLog) / (ComputeGridPoints - 1);
        double Gap(double logCompute) => LossGap(mdm, ar, Math.Exp(logCompute), uniqueTokens);

        if (Gap(lowLog) <= 0)
            return new CrossoverPoint(uniqueTokens, null, null, null, $"MDM is already ahead at the smallest compute scanned ({minCompute:G3} FLOPs)");
        for (int i = 1; i < ComputeGridPoints; i++)
        {
            double right = lowLog + i * spacing, gap = Gap(right);
            if (gap > 0) continue;
            double left = right - spacing;
            while (right - left > 1e-12 * Math.Abs(right))
            {
                double middle = 0.5 * (left + right);
                if (Gap(middle) > 0) left = middle; else right = middle;
            }
            double critical = Math.Exp(0.5 * (left + right));
            return new CrossoverPoint(uniqueTokens, critical, MinimumLoss(ar, critical, uniqueTokens),
                MinimumLoss(mdm, critical, uniqueTokens), "");
        }
        return new CrossoverPoint(uniqueTokens, null, null, null, $"AR stays ahead up to the largest compute scanned ({maxCompute:G3} FLOPs)");
    }

    /// <summary>
    /// C_crit(U) of the point laws and its percentile interval over resample pairs (AR resample i with MDM resample i).
    /// Not identified when more resamples than the interval's tail (5 %) find no crossover in range, or when the
    /// interval spans more than a factor of 10.
    /// </summary>
    public static CriticalComputeInterval CriticalComputeInterval(ScalingLaw mdm, ScalingLaw ar, IReadOnlyList<ScalingLaw> mdmResamples,
        IReadOnlyList<ScalingLaw> arResamples, double uniqueTokens, double minCompute = DefaultMinCompute, double maxCompute = DefaultMaxCompute)
    {
        int count = Math.Min(mdmResamples.Count, arResamples.Count);
        var critical = new double?[count];
        Parallel.For(0, count, i => critical[i] = CriticalCompute(mdmResamples[i], arResamples[i], uniqueTokens, minCompute, maxCompute).CriticalCompute);
        var found = critical.OfType<double>().ToList();
        int missing = count - found.Count;
        double? point = CriticalCompute(mdm, ar, uniqueTokens, minCompute, maxCompute).CriticalCompute;
        BootstrapInterval interval;
        if (found.Count == 0)
            interval = new BootstrapInterval(double.NaN, double.NaN, false, $"no crossover in range in any of {count} resamples");
        else if (missing > (1 - FitBootstrap.Level) / 2 * count)
        {
            var (low, high) = FitBootstrap.Percentiles(found);
            interval = new BootstrapInterval(low, high, false, $"no crossover in range in {missing} of {count} resamples");
        }
        else
        {
            var (low, high) = FitBootstrap.Percentiles(found);
            interval = FitBootstrap.SpanInterval(low, high);
        }
        return new CriticalComputeInterval(uniqueTokens, point, interval, missing);
    }

    /// <summary>Least squares of ln y on ln x; needs two or more distinct x.</summary>
    public static PowerLawFit FitPowerLaw(IReadOnlyList<(double X, double Y)> points)
    {
        if (points.Select(p => p.X).Distinct().Count() < 2)
            throw new ArgumentException("A power-law fit needs at least two distinct x values.", nameof(points));
        var logs = points.Select(p => (X: Math.Log(p.X), Y: Math.Log(p.Y))).ToList();
        double exponent = LeastSquaresSlope(logs);
        return new PowerLawFit(Math.Exp(logs.Average(p => p.Y) - exponent * logs.Average(p => p.X)), exponent);
    }

    /// <summary>The slope of the least-squares line through the points (two or more distinct x).</summary>
    public static double LeastSquaresSlope(IReadOnlyList<(double X, double Y)> points)
    {
        double meanX = points.Average(p => p.X), meanY = points.Average(p => p.Y);
        return points.Sum(p => (p.X - meanX) * (p.Y - meanY)) / points.Sum(p => (p.X - meanX) * (p.X - meanX));
    }

    private static double GoldenSectionMinimum(Func<double, double> function, double low, double high, double tolerance)
    {
        double ratio = (Math.Sqrt(5) - 1) / 2;
        double left = high - ratio * (high - low), right = low + ratio * (high - low);
        double leftValue = function(left), rightValue = function(right);
        while (high - low > tolerance)
        {
            if (leftValue <= rightValue)
            {
                high = right; right = left; rightValue = leftValue;
                left = high - ratio * (high - low); leftValue = function(left);
            }
            else
            {
                low = left; left = right; leftValue = rightValue;
                right = low + ratio * (high - low); rightValue = function(right);
            }
        }
        return 0.5 * (low + high);
    }
}
