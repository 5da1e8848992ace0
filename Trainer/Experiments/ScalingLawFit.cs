using System.Text.Json.Serialization;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Experiments;

/// <summary>One observation: a run's parameter count N, tokens trained D, unique tokens U and validation loss.</summary>
public sealed record FitPoint(double Params, double Tokens, double UniqueTokens, double Loss)
{
    /// <summary>At most one epoch: nothing repeated (a small tolerance absorbs rounding of the token count).</summary>
    public bool IsSingleEpoch => Tokens <= UniqueTokens * (1 + 1e-6);
}

/// <summary>How well one stage's constants describe its points.</summary>
public sealed record StageReport(
    [property: JsonPropertyName("points")] int Points,
    [property: JsonPropertyName("free_constants")] IReadOnlyList<string> FreeConstants,
    [property: JsonPropertyName("r2")] double RSquared,
    [property: JsonPropertyName("huber")] double Huber,
    [property: JsonPropertyName("starts")] int Starts);

/// <summary>Which fit made the constants: the two-stage fit, or the joint fit started from it.</summary>
public enum FitMethod { TwoStage, Joint }

/// <summary>
/// One objective's fit. Stage1 and Stage2 report the two-stage fit (the joint fit starts from it; null when the joint
/// fit ran without it, see Warnings); Joint reports the joint fit when it made the constants; Intervals holds the
/// bootstrap intervals once computed.
/// </summary>
public sealed record ObjectiveFit(
    [property: JsonPropertyName("objective")] string Objective,
    [property: JsonPropertyName("constants")] ScalingLaw Law,
    [property: JsonPropertyName("fixed")] IReadOnlyList<string> Fixed,
    [property: JsonPropertyName("stage1")] StageReport? Stage1,
    [property: JsonPropertyName("stage2")] StageReport? Stage2,
    [property: JsonPropertyName("warnings")] IReadOnlyList<string> Warnings,
    [property: JsonPropertyName("joint")] StageReport? Joint = null,
    [property: JsonPropertyName("intervals")] BootstrapIntervals? Intervals = null)
{
    [JsonIgnore]
    public FitMethod Method => Joint is null ? FitMethod.TwoStage : FitMethod.Joint;
}

/// <summary>Starting grids (in the fitted coordinates) and solver settings.</summary>
public sealed record FitOptions
{
    public double HuberDelta { get; init; } = 1e-3;
    // Chinchilla's grid (Hoffmann et al. 2022, appendix D.2), reused by Muennighoff et al.: a = ln A, b = ln B, e = ln E0.
    public IReadOnlyList<double> LogAGrid { get; init; } = [0, 5, 10, 15, 20, 25];
    public IReadOnlyList<double> LogBGrid { get; init; } = [0, 5, 10, 15, 20, 25];
    public IReadOnlyList<double> LogE0Grid { get; init; } = [-1, -0.5, 0, 0.5, 1];
    public IReadOnlyList<double> AlphaGrid { get; init; } = [0, 0.5, 1, 1.5, 2];
    public IReadOnlyList<double> BetaGrid { get; init; } = [0, 0.5, 1, 1.5, 2];
    /// <summary>Starting R_D* and R_N* values: the references span 5.31 (Muennighoff R_N*) to 1265.65 (MDM R_N*).</summary>
    public IReadOnlyList<double> RStarGrid { get; init; } = [1, 3, 10, 30, 100, 300, 1000, 3000];
    /// <summary>R_D* and R_N* values the joint fit also starts from (every pair), besides the two-stage result.</summary>
    public IReadOnlyList<double> JointRStarStarts { get; init; } = [3, 30, 300, 3000];
    /// <summary>E0 values the joint fit also starts from, as fractions of the lowest observed loss (E0 lies below it).</summary>
    public IReadOnlyList<double> JointE0Starts { get; init; } = [0.5, 0.8];
    public LbfgsOptions Solver { get; init; } = new();

    /// <summary>A 2-3 points per axis grid for tests and quick looks (162 starts instead of 4500).</summary>
    public static FitOptions Coarse { get; } = new()
    {
        LogAGrid = [0, 10, 20], LogBGrid = [0, 10, 20], LogE0Grid = [-1, 1], AlphaGrid = [0.25, 1, 2], BetaGrid = [0.25, 1, 2],
        RStarGrid = [3, 100, 3000],
    };
}

/// <summary>
/// The two-stage fit of PAPER.md §6. Stage 1: A, B, E0, alpha, beta on the single-epoch runs, where nothing is
/// repeated, so D' = D, and N' = N (the Chinchilla form; R_N* is unknown until stage 2). Stage 2: with those frozen,
/// R_D* and R_N* on all runs. Both minimise the mean Huber loss (delta 1e-3) between predicted and observed
/// log-loss, the prediction being logsumexp(a - alpha·ln N', b - beta·ln D', e); each runs L-BFGS from every point
/// of a starting grid and keeps the lowest final objective. R_D* and R_N* are fitted as logarithms (positive).
/// As in Muennighoff et al., stage 1 assumes single-epoch runs are undiscounted; the full law also discounts a
/// single-epoch run whose N exceeds N_opt(U), so a sweep whose single-epoch runs are far over-parameterised biases
/// stage 1 (the stage-1 R² shows it). <see cref="FitMethod.Joint"/> removes that bias: <see cref="JointFit"/> refits
/// all seven constants on all runs, starting from the two-stage result.
/// </summary>
public static class ScalingLawFit
{
    /// <summary>Huber loss: r²/2 inside ±delta, linear outside.</summary>
    public static double Huber(double residual, double delta) =>
        Math.Abs(residual) <= delta ? 0.5 * residual * residual : delta * (Math.Abs(residual) - 0.5 * delta);

    private static double HuberSlope(double residual, double delta) => Math.Clamp(residual, -delta, delta);

    public static IReadOnlyList<FitPoint> Points(IEnumerable<RunResult> runs, string objective, bool useBestLoss) =>
        runs.Where(run => string.Equals(run.Objective, objective, StringComparison.OrdinalIgnoreCase))
            .Select(run => new FitPoint(run.Params, run.Tokens, run.UniqueTokens, useBestLoss ? run.BestValLoss : run.FinalValLoss))
            .ToList();

    public static ObjectiveFit Fit(string objective, IReadOnlyList<FitPoint> points, FixedConstants? fixedConstants = null,
        FitOptions? options = null, FitMethod method = FitMethod.TwoStage)
    {
        fixedConstants ??= FixedConstants.None;
        options ??= new FitOptions();
        foreach (var point in points)
            if (!(point.Params > 0 && point.Tokens > 0 && point.UniqueTokens > 0 && point.Loss > 0 && double.IsFinite(point.Loss)))
                throw new InvalidInputException($"{objective}: a run has a non-positive or non-finite value: {point}.");

        var warnings = new List<string>();
        ScalingLaw law;
        StageReport? stage1 = null, stage2 = null, joint = null;
        try
        {
            var (stage1Constants, stage1Report) = FitStage1(objective, points.Where(p => p.IsSingleEpoch).ToList(), fixedConstants, options);
            (law, stage2) = FitStage2(objective, points, stage1Constants, fixedConstants, options);
            stage1 = stage1Report;
        }
        catch (InvalidInputException error) when (method == FitMethod.Joint)
        {
            // The joint fit needs neither single-epoch runs nor a finite stage 1; it starts from Muennighoff's AR law instead.
            warnings.Add($"the two-stage fit failed, so the joint fit started from Muennighoff's AR constants: {error.Message}");
            law = fixedConstants.Apply(PaperReference.MuennighoffAr);
        }
        if (method == FitMethod.Joint) (law, joint) = FitJoint(points, law, fixedConstants, options);

        if (!fixedConstants.RDStar.HasValue && !points.Any(p => !p.IsSingleEpoch))
            warnings.Add("no multi-epoch run: the data do not determine R_D*");
        if (!fixedConstants.RNStar.HasValue && !points.Any(p => p.Params > law.OptimalParamsForUniqueTokens(p.UniqueTokens)))
            warnings.Add("no run has more parameters than N_opt(U): the data do not determine R_N*");
        return new ObjectiveFit(objective, law, fixedConstants.FixedNames, stage1, stage2, warnings, joint);
    }

    /// <summary>
    /// The joint fit from the two-stage constants (exponents moved inside the bounds; Muennighoff's AR A, B, alpha and
    /// beta where stage 1 ran off to non-finite values), and from them with each pair of
    /// the R_D*, R_N* starting values and with E0 at fractions of the lowest observed loss: a biased stage 1 can leave
    /// the two-stage fit in another basin (E0 run off to 0 with a shallow beta, R* far off).
    /// </summary>
    private static (ScalingLaw Law, StageReport Report) FitJoint(IReadOnlyList<FitPoint> points, ScalingLaw twoStage,
        FixedConstants fixedConstants, FitOptions options)
    {
        var joint = new JointFit(points, fixedConstants, options.HuberDelta);
        double lowestLoss = points.Min(p => p.Loss);
        var starts = new List<ScalingLaw>();
        foreach (double floor in options.JointE0Starts.Select(fraction => fraction * lowestLoss).Prepend(twoStage.E0))
            foreach (double dataEFolding in options.JointRStarStarts.Prepend(twoStage.RDStar))
                foreach (double paramEFolding in options.JointRStarStarts.Prepend(twoStage.RNStar))
                    starts.Add(twoStage with { E0 = floor, RDStar = dataEFolding, RNStar = paramEFolding });
        // A stage 1 run off to an infinite A (or any absurd constant) gives no finite start: Muennighoff's AR constants stand in.
        if (twoStage.Constants().Any(value => !double.IsFinite(value) || value <= 0 || value > 1e30))
            starts = starts.Select(start => fixedConstants.Apply(PaperReference.MuennighoffAr with { E0 = start.E0, RDStar = start.RDStar, RNStar = start.RNStar })).ToList();
        var weights = Enumerable.Repeat(1.0, points.Count).ToArray();
        var (law, huber) = joint.Minimize(starts, weights, options.Solver);
        law = fixedConstants.Apply(law);
        double rSquared = RSquared(points, p => law.Loss(p.Params, p.Tokens, p.UniqueTokens));
        return (law, new StageReport(points.Count, joint.FreeNames, rSquared, huber, starts.Count));
    }

    // ---- stage 1: theta = [ln A, ln B, ln E0, alpha, beta] ----

    private static (double[] Constants, StageReport Report) FitStage1(string objective, IReadOnlyList<FitPoint> points,
        FixedConstants fixedConstants, FitOptions options)
    {
        double?[] fixedValues = fixedConstants.Values;
        double?[] fixedTheta =
        [
            fixedValues[0] is double a ? Math.Log(a) : null,
            fixedValues[1] is double b ? Math.Log(b) : null,
            fixedValues[2] is double e ? Math.Log(e) : null,
            fixedValues[3], fixedValues[4],
        ];
        int[] free = Enumerable.Range(0, 5).Where(i => fixedTheta[i] is null).ToArray();
        var freeNames = free.Select(i => FixedConstants.Names[i]).ToList();
        if (points.Count < free.Length)
            throw new InvalidInputException(
                $"{objective}: stage 1 fits {free.Length} constant(s) ({string.Join(", ", freeNames)}) on the single-epoch runs, " +
                $"but there are only {points.Count} single-epoch run(s). Add single-epoch runs, or fix constants with " +
                "--fixed FILE (a JSON object with any of A, B, E0, alpha, beta, RDstar, RNstar).");

        var logN = points.Select(p => Math.Log(p.Params)).ToArray();
        var logD = points.Select(p => Math.Log(p.Tokens)).ToArray();
        var logLoss = points.Select(p => Math.Log(p.Loss)).ToArray();
        double delta = options.HuberDelta;

        double[] Full(ReadOnlySpan<double> freeTheta)
        {
            var theta = new double[5];
            for (int i = 0; i < 5; i++) theta[i] = fixedTheta[i] ?? 0;
            for (int k = 0; k < free.Length; k++) theta[free[k]] = freeTheta[k];
            return theta;
        }

        double Objective(ReadOnlySpan<double> freeTheta, Span<double> gradient)
        {
            double[] theta = Full(freeTheta);
            Span<double> full = stackalloc double[5];
            full.Clear();
            double total = 0;
            for (int n = 0; n < logN.Length; n++)
            {
                double paramTerm = theta[0] - theta[3] * logN[n], dataTerm = theta[1] - theta[4] * logD[n], floor = theta[2];
                double max = Math.Max(paramTerm, Math.Max(dataTerm, floor));
                double wParam = Math.Exp(paramTerm - max), wData = Math.Exp(dataTerm - max), wFloor = Math.Exp(floor - max);
                double sum = wParam + wData + wFloor;
                double residual = max + Math.Log(sum) - logLoss[n];
                total += Huber(residual, delta);
                double slope = HuberSlope(residual, delta) / sum;
                full[0] += slope * wParam;
                full[1] += slope * wData;
                full[2] += slope * wFloor;
                full[3] -= slope * wParam * logN[n];
                full[4] -= slope * wData * logD[n];
            }
            for (int k = 0; k < free.Length; k++) gradient[k] = full[free[k]] / logN.Length;
            return total / logN.Length;
        }

        IReadOnlyList<double>[] axes = [options.LogAGrid, options.LogBGrid, options.LogE0Grid, options.AlphaGrid, options.BetaGrid];
        var (bestFree, bestValue, starts) = MultiStart(Objective, free.Select(i => axes[i]).ToArray(), options.Solver);
        double[] best = Full(bestFree);
        // Fixed constants are passed through as given (exp(ln x) may differ from x in the last bit).
        double[] constants = [fixedValues[0] ?? Math.Exp(best[0]), fixedValues[1] ?? Math.Exp(best[1]),
            fixedValues[2] ?? Math.Exp(best[2]), best[3], best[4]];
        var chinchilla = new ScalingLaw(constants[0], constants[1], constants[2], constants[3], constants[4], 1, 1);
        double rSquared = RSquared(points, p => chinchilla.E0 + chinchilla.A / Math.Pow(p.Params, chinchilla.Alpha)
                                                               + chinchilla.B / Math.Pow(p.Tokens, chinchilla.Beta));
        return (constants, new StageReport(points.Count, freeNames, rSquared, bestValue, starts));
    }

    // ---- stage 2: theta = [ln R_D*, ln R_N*] with the stage-1 constants frozen ----

    private static (ScalingLaw Law, StageReport Report) FitStage2(string objective, IReadOnlyList<FitPoint> points,
        double[] stage1, FixedConstants fixedConstants, FitOptions options)
    {
        double?[] fixedTheta =
        [
            fixedConstants.RDStar is double rd ? Math.Log(rd) : null,
            fixedConstants.RNStar is double rn ? Math.Log(rn) : null,
        ];
        int[] free = Enumerable.Range(0, 2).Where(i => fixedTheta[i] is null).ToArray();
        var freeNames = free.Select(i => FixedConstants.Names[5 + i]).ToList();
        if (points.Count < free.Length)
            throw new InvalidInputException(
                $"{objective}: stage 2 fits {free.Length} constant(s) ({string.Join(", ", freeNames)}) on all runs, but there " +
                $"are only {points.Count} run(s). Add runs, or fix constants with --fixed FILE (a JSON object with any of " +
                "A, B, E0, alpha, beta, RDstar, RNstar).");

        ScalingLaw Law(ReadOnlySpan<double> freeTheta)
        {
            double logRD = fixedTheta[0] ?? 0, logRN = fixedTheta[1] ?? 0;
            for (int k = 0; k < free.Length; k++)
                if (free[k] == 0) logRD = freeTheta[k]; else logRN = freeTheta[k];
            return new ScalingLaw(stage1[0], stage1[1], stage1[2], stage1[3], stage1[4],
                fixedConstants.RDStar ?? Math.Exp(logRD), fixedConstants.RNStar ?? Math.Exp(logRN));
        }

        var logLoss = points.Select(p => Math.Log(p.Loss)).ToArray();
        double delta = options.HuberDelta;
        double Value(double[] freeTheta)
        {
            var law = Law(freeTheta);
            double total = 0;
            for (int n = 0; n < points.Count; n++)
                total += Huber(LogPrediction(law, points[n]) - logLoss[n], delta);
            return total / points.Count;
        }

        double[] logRStars = options.RStarGrid.Select(r => Math.Log(r)).ToArray();
        IReadOnlyList<double>[] axes = [logRStars, logRStars];
        var (bestFree, bestValue, starts) = MultiStart(Lbfgs.WithCentralDifferences(Value), free.Select(i => axes[i]).ToArray(), options.Solver);
        var fitted = Law(bestFree);
        double rSquared = RSquared(points, p => fitted.Loss(p.Params, p.Tokens, p.UniqueTokens));
        return (fitted, new StageReport(points.Count, freeNames, rSquared, bestValue, starts));
    }

    /// <summary>ln L as the fit computes it: logsumexp(a - alpha·ln N', b - beta·ln D', e).</summary>
    public static double LogPrediction(ScalingLaw law, FitPoint point)
    {
        double paramTerm = Math.Log(law.A) - law.Alpha * Math.Log(law.EffectiveParams(point.Params, point.UniqueTokens));
        double dataTerm = Math.Log(law.B) - law.Beta * Math.Log(law.EffectiveTokens(point.Tokens, point.UniqueTokens));
        double floor = Math.Log(law.E0);
        double max = Math.Max(paramTerm, Math.Max(dataTerm, floor));
        return max + Math.Log(Math.Exp(paramTerm - max) + Math.Exp(dataTerm - max) + Math.Exp(floor - max));
    }

    /// <summary>1 - SS_res/SS_tot of the predicted against the observed loss (not log-loss).</summary>
    public static double RSquared(IReadOnlyList<FitPoint> points, Func<FitPoint, double> predict)
    {
        if (points.Count == 0) return double.NaN;
        double mean = points.Average(p => p.Loss);
        double residual = points.Sum(p => Math.Pow(predict(p) - p.Loss, 2));
        double total = points.Sum(p => Math.Pow(p.Loss - mean, 2));
        return total > 0 ? 1 - residual / total : double.NaN;
    }

    /// <summary>L-BFGS from every point of the grid (the Cartesian product of the axes); the lowest final value wins.</summary>
    private static (double[] Best, double Value, int Starts) MultiStart(DifferentiableFunction objective, IReadOnlyList<double>[] axes, LbfgsOptions solver)
    {
        if (axes.Length == 0)
            return ([], objective(ReadOnlySpan<double>.Empty, Span<double>.Empty), 0);
        double[]? best = null;
        double bestValue = double.PositiveInfinity;
        int starts = 0;
        var start = new double[axes.Length];
        var counters = new int[axes.Length];
        while (true)
        {
            for (int i = 0; i < axes.Length; i++) start[i] = axes[i][counters[i]];
            var result = Lbfgs.Minimize(objective, start, solver);
            starts++;
            if (double.IsFinite(result.Value) && result.Value < bestValue)
            {
                bestValue = result.Value;
                best = result.Minimum;
            }
            int axis = 0;
            while (axis < axes.Length && ++counters[axis] == axes[axis].Count) counters[axis++] = 0;
            if (axis == axes.Length) break;
        }
        if (best is null) throw new InvalidInputException("The scaling-law fit found no finite objective from any starting point.");
        return (best, bestValue, starts);
    }
}
