using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Experiments;

/// <summary>
/// The joint fit of all seven constants over all runs at once: the mean Huber loss (delta 1e-3, as the two-stage fit)
/// between ln L of the full law (with N' and D') and the observed log-loss, minimised by L-BFGS with analytic
/// gradients. Unlike stage 1 of the two-stage fit it sees the excess-parameter discount of single-epoch runs with
/// N &gt; N_opt(U), so it needs no assumption about which runs are undiscounted.
/// Fitted coordinates: theta = [ln A, ln B, ln E0, logit(alpha/1.5), logit(beta/1.5), ln R_D*, ln R_N*], which
/// keep the physical bounds (0 &lt; alpha, beta &lt; 1.5; E0, R_D*, R_N* &gt; 0) without a constrained solver.
/// Runs are weighted (a bootstrap resample is a weight vector of draw counts over the same runs).
/// </summary>
public sealed class JointFit
{
    public const double ExponentBound = 1.5;
    public const int ConstantCount = 7;

    private readonly double[] logParams, logUnique, logUniqueSeen, repetitions, logLoss;
    private readonly double?[] fixedTheta;
    private readonly int[] free;
    private readonly double huberDelta;

    public JointFit(IReadOnlyList<FitPoint> points, FixedConstants fixedConstants, double huberDelta)
    {
        logParams = points.Select(p => Math.Log(p.Params)).ToArray();
        logUnique = points.Select(p => Math.Log(p.UniqueTokens)).ToArray();
        // As ScalingLaw.EffectiveTokens: U_D = min(U, D), R_D = D/U_D - 1.
        logUniqueSeen = points.Select(p => Math.Log(Math.Min(p.UniqueTokens, p.Tokens))).ToArray();
        repetitions = points.Select(p => p.Tokens / Math.Min(p.UniqueTokens, p.Tokens) - 1).ToArray();
        logLoss = points.Select(p => Math.Log(p.Loss)).ToArray();
        foreach (var (name, value) in new[] { ("alpha", fixedConstants.Alpha), ("beta", fixedConstants.Beta) })
            if (value is double exponent && exponent >= ExponentBound)
                throw new InvalidInputException(
                    $"The joint fit keeps alpha and beta below {ExponentBound}; the fixed {name} = {exponent} is not. Fix it lower or use --method two-stage.");
        fixedTheta = ToTheta(fixedConstants.Values);
        free = Enumerable.Range(0, ConstantCount).Where(i => fixedTheta[i] is null).ToArray();
        this.huberDelta = huberDelta;
    }

    public int PointCount => logLoss.Length;

    /// <summary>The names of the constants this fit varies, in <see cref="FixedConstants.Names"/> order.</summary>
    public IReadOnlyList<string> FreeNames => free.Select(i => FixedConstants.Names[i]).ToList();

    /// <summary>Minimises from each start (laws whose free constants seed the search); returns the lowest.</summary>
    public (ScalingLaw Law, double Huber) Minimize(IEnumerable<ScalingLaw> starts, double[] weights, LbfgsOptions solver)
    {
        ScalingLaw? best = null;
        double bestValue = double.PositiveInfinity;
        foreach (var start in starts)
        {
            var result = Lbfgs.Minimize(Objective(weights), Coordinates(start), solver);
            if (double.IsFinite(result.Value) && result.Value < bestValue)
            {
                bestValue = result.Value;
                best = ToLaw(Full(result.Minimum));
            }
        }
        return best is null
            ? throw new InvalidInputException("The joint scaling-law fit found no finite objective from any start.")
            : (best, bestValue);
    }

    /// <summary>The free fitted coordinates of a law (the point <see cref="Objective"/> takes).</summary>
    public double[] Coordinates(ScalingLaw law)
    {
        double?[] theta = ToTheta([.. law.Constants().Select(value => (double?)value)]);
        return free.Select(i => theta[i]!.Value).ToArray();
    }

    /// <summary>The weighted mean Huber loss and its gradient over the free coordinates.</summary>
    public DifferentiableFunction Objective(double[] weights) => (freeTheta, gradient) =>
    {
        double[] theta = Full(freeTheta);
        Span<double> full = stackalloc double[ConstantCount];
        Span<double> slopes = stackalloc double[ConstantCount];
        full.Clear();
        double total = 0, weightSum = 0;
        for (int n = 0; n < logLoss.Length; n++)
        {
            if (weights[n] == 0) continue;
            double prediction = LogPredictionWithSlopes(theta, n, slopes);
            double residual = prediction - logLoss[n];
            total += weights[n] * ScalingLawFit.Huber(residual, huberDelta);
            weightSum += weights[n];
            double slope = weights[n] * Math.Clamp(residual, -huberDelta, huberDelta);
            for (int i = 0; i < ConstantCount; i++) full[i] += slope * slopes[i];
        }
        for (int k = 0; k < free.Length; k++) gradient[k] = full[free[k]] / weightSum;
        return total / weightSum;
    };

    /// <summary>
    /// ln L of run n; its derivatives with respect to theta go into <paramref name="slopes"/>. With m = ln N_opt(U) = (a - b + ln alpha - ln beta +
    /// beta·ln U)/alpha (from N_opt(U) = G·(U·G)^(beta/alpha)), a run with N &gt; N_opt has ln N' = m + ln f,
    /// f = 1 + R_N*·(1 - exp(-x/R_N*)), x = N/N_opt - 1; so ln N' moves with a, b, alpha and beta through m.
    /// </summary>
    private double LogPredictionWithSlopes(double[] theta, int n, Span<double> slopes)
    {
        double a = theta[0], b = theta[1], e = theta[2];
        double alpha = Squash(theta[3]), beta = Squash(theta[4]);
        double dataEFolding = Math.Exp(theta[5]), paramEFolding = Math.Exp(theta[6]);

        double logOptimal = (a - b + Math.Log(alpha) - Math.Log(beta) + beta * logUnique[n]) / alpha;
        double logEffectiveParams = logParams[n], paramSlopeOnOptimal = 0, paramSlopeOnEFolding = 0;
        if (logParams[n] > logOptimal)
        {
            // N/N_opt beyond e^700 would overflow; the discount has long saturated there (N' = N_opt·(1 + R_N*)).
            double excess = Math.Exp(Math.Min(logParams[n] - logOptimal, 700)) - 1;
            (double logFactor, double slopeOnExcess, double slopeOnEFolding) = Discount(excess, paramEFolding);
            logEffectiveParams = logOptimal + logFactor;
            // d ln N'/dm = 1 + (d ln f/dx)·(dx/dm), dx/dm = -(x + 1).
            paramSlopeOnOptimal = 1 - slopeOnExcess * (excess + 1);
            paramSlopeOnEFolding = slopeOnEFolding;
        }
        (double logDataFactor, _, double dataSlopeOnEFolding) = Discount(repetitions[n], dataEFolding);
        double logEffectiveTokens = logUniqueSeen[n] + logDataFactor;

        double paramTerm = a - alpha * logEffectiveParams, dataTerm = b - beta * logEffectiveTokens;
        double max = Math.Max(paramTerm, Math.Max(dataTerm, e));
        double wParam = Math.Exp(paramTerm - max), wData = Math.Exp(dataTerm - max), wFloor = Math.Exp(e - max);
        double sum = wParam + wData + wFloor;
        wParam /= sum;
        wData /= sum;
        wFloor /= sum;

        double optimalSlopeOnAlpha = 1 / (alpha * alpha) - logOptimal / alpha;
        double optimalSlopeOnBeta = (logUnique[n] - 1 / beta) / alpha;
        double alphaSlope = wParam * (-logEffectiveParams - alpha * paramSlopeOnOptimal * optimalSlopeOnAlpha);
        double betaSlope = -wParam * alpha * paramSlopeOnOptimal * optimalSlopeOnBeta - wData * logEffectiveTokens;
        slopes[0] = wParam * (1 - paramSlopeOnOptimal);
        slopes[1] = wParam * paramSlopeOnOptimal + wData;
        slopes[2] = wFloor;
        slopes[3] = alphaSlope * SquashSlope(alpha);
        slopes[4] = betaSlope * SquashSlope(beta);
        slopes[5] = -wData * beta * dataSlopeOnEFolding;
        slopes[6] = -wParam * alpha * paramSlopeOnEFolding;
        return max + Math.Log(sum);
    }

    /// <summary>ln f with f = 1 + R*·(1 - exp(-x/R*)), and d ln f/dx and d ln f/d ln R*.</summary>
    private static (double LogFactor, double SlopeOnExcess, double SlopeOnLogEFolding) Discount(double excess, double eFolding)
    {
        double kept = Math.Exp(-excess / eFolding);
        double factor = 1 + eFolding * ScalingLaw.OneMinusExpNegative(excess / eFolding);
        double slopeOnLogEFolding = (eFolding * ScalingLaw.OneMinusExpNegative(excess / eFolding) - excess * kept) / factor;
        return (Math.Log(factor), kept / factor, slopeOnLogEFolding);
    }

    private static double Squash(double logit) => ExponentBound / (1 + Math.Exp(-logit));
    private static double SquashSlope(double exponent) => exponent * (1 - exponent / ExponentBound);
    private static double Unsquash(double exponent) => Math.Log(exponent / (ExponentBound - exponent));

    private double[] Full(ReadOnlySpan<double> freeTheta)
    {
        var theta = new double[ConstantCount];
        for (int i = 0; i < ConstantCount; i++) theta[i] = fixedTheta[i] ?? 0;
        for (int k = 0; k < free.Length; k++) theta[free[k]] = freeTheta[k];
        return theta;
    }

    /// <summary>Constants to fitted coordinates; an exponent outside (0, 1.5) is moved just inside so a start stays finite.</summary>
    private static double?[] ToTheta(double?[] values)
    {
        const double inside = 1e-3;
        double? Exponent(double? value) => value is double v ? Unsquash(Math.Clamp(v, inside, ExponentBound - inside)) : null;
        double? Log(double? value) => value is double v ? Math.Log(v) : null;
        return [Log(values[0]), Log(values[1]), Log(values[2]), Exponent(values[3]), Exponent(values[4]), Log(values[5]), Log(values[6])];
    }

    private static ScalingLaw ToLaw(double[] theta) => new(Math.Exp(theta[0]), Math.Exp(theta[1]), Math.Exp(theta[2]),
        Squash(theta[3]), Squash(theta[4]), Math.Exp(theta[5]), Math.Exp(theta[6]));
}
