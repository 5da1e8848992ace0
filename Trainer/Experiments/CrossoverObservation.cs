using System.Globalization;

namespace VkDiffusion.Trainer.Experiments;

/// <summary>
/// MDM against AR at one budget and model size, as the runs measured it. AR's reference is its early-stopped best:
/// the lowest best_val_loss of its runs of at most as many epochs as the MDM run, i.e. the best AR reached with no
/// more compute. Gap = MDM's best loss minus that reference (positive: AR ahead), at MDM's longest run.
/// </summary>
/// <param name="MdmStandardError">The Monte Carlo standard error of <paramref name="MdmLoss"/> when it is a final bound
/// (<see cref="FinalBound"/>), null when it is the training-time evaluation.</param>
/// <param name="GapSlopePerDoubling">Least-squares slope of the gap against log2(epochs) over MDM's last three epoch
/// counts (two where it has two): nats per doubling of epochs, negative while MDM closes in; null with one MDM run.</param>
/// <param name="CrossoverEpochs">The fewest MDM epochs whose gap is negative (MDM ahead) by more than
/// <see cref="CrossoverObservation.DecisiveStandardErrors"/> standard errors of its bound (any amount without a final
/// bound), null when none is.</param>
/// <param name="WithinError">No crossover, and the longest MDM run's gap lies within that many standard errors of zero:
/// more samples of t decide it.</param>
/// <param name="CrossoverCompute">That MDM run's compute 6ND: the crossover happened at or below it.</param>
/// <param name="CriticalComputeEstimate">Where the gap reaches zero, with the gap taken as linear in log compute between
/// the MDM run before the crossing one (AR ahead there) and the crossing one; that run's compute where no run before it
/// is behind AR (then only a bound).</param>
/// <param name="MdmCompute">The longest MDM run's compute 6ND: without a crossover, C_crit lies above it.</param>
public sealed record ObservedGap(long UniqueTokens, string Preset, long Params, double MdmEpochs, double MdmLoss, double? MdmStandardError,
    double ArLongestEpochs, double ArBestLoss, double ArBestEpoch, double Gap, double? GapSlopePerDoubling, double? CrossoverEpochs,
    double? CrossoverCompute, double? CriticalComputeEstimate, double MdmCompute, bool WithinError);

/// <summary>
/// One budget measured at two or more model sizes, compared as the paper compares the families (its ΔL(C, U) minimises
/// each family's loss over the model size): MDM by the lowest longest-run loss of its sizes, AR by the lowest
/// early-stopped best of its sizes. A crossover in one size's cell is not one here when another size's AR is better.
/// </summary>
/// <param name="Crossed">MDM below AR by more than <see cref="CrossoverObservation.DecisiveStandardErrors"/> standard errors of its bound.</param>
/// <param name="WithinError">Not crossed, and the gap lies within that many standard errors of zero.</param>
public sealed record AcrossSizesGap(long UniqueTokens, string MdmPreset, double MdmLoss, double? MdmStandardError, string ArPreset,
    double ArBestLoss, double Gap, bool Crossed, bool WithinError)
{
    /// <summary>Which family is ahead, or that the error does not decide.</summary>
    public string Verdict => Crossed ? "MDM ahead" : WithinError ? "within the error" : "AR ahead";
}

/// <summary>
/// What the runs show about the crossover: the gap per budget and size, each budget's observed C_crit (the least
/// <see cref="ObservedGap.CriticalComputeEstimate"/> over its sizes), and C_crit(U) = k·U^gamma with a bootstrap interval for gamma when crossovers
/// were observed at <see cref="MinBudgetsForLaw"/> or more budgets and no budget lacks runs (else null).
/// </summary>
/// <param name="Lacking">One line per (budget, size) whose runs cannot be compared, naming the runs it lacks: a law
/// fitted without them would rest on the budgets that happen to be complete.</param>
public sealed record CrossoverObservation(IReadOnlyList<ObservedGap> Gaps, IReadOnlyList<(double UniqueTokens, double Compute)> CriticalComputes,
    PowerLawFit? Law, BootstrapInterval? GammaInterval, IReadOnlyList<string> Lacking)
{
    public const int MinBudgetsForLaw = 3;

    /// <summary>How many standard errors of its final bound MDM must be below AR's best to count as a crossover (one-sided, about 98%).</summary>
    public const double DecisiveStandardErrors = 2;

    /// <summary>Each budget with gaps at two or more sizes, each family at its best size.</summary>
    public IReadOnlyList<AcrossSizesGap> AcrossSizes { get; } = Gaps.GroupBy(gap => gap.UniqueTokens).Where(budget => budget.Count() >= 2)
        .Select(budget =>
        {
            ObservedGap mdm = budget.MinBy(gap => gap.MdmLoss)!, ar = budget.MinBy(gap => gap.ArBestLoss)!;
            double difference = mdm.MdmLoss - ar.ArBestLoss, margin = DecisiveStandardErrors * (mdm.MdmStandardError ?? 0);
            bool crossed = difference + margin < 0;
            return new AcrossSizesGap(budget.Key, mdm.Preset, mdm.MdmLoss, mdm.MdmStandardError, ar.Preset, ar.ArBestLoss, difference, crossed,
                !crossed && Math.Abs(difference) <= margin);
        }).ToList();

    /// <summary>
    /// Pairs MDM and AR runs of the same preset and budget and fits the law when it may; a cell without an MDM run, or
    /// without an AR run of at most as many epochs as its shortest MDM run, is named in <see cref="Lacking"/> instead.
    /// The gamma interval comes from <paramref name="resamples"/> draws of the budgets with replacement (seeded), each
    /// refitted where it holds two distinct budgets. An MDM run with a bound in <paramref name="finalBounds"/> (by run id)
    /// is compared by that bound and its standard error instead of its training-time best.
    /// </summary>
    public static CrossoverObservation From(IReadOnlyList<RunResult> runs, IReadOnlyDictionary<string, FinalBound>? finalBounds = null,
        int resamples = 200, int seed = 1)
    {
        finalBounds ??= new Dictionary<string, FinalBound>();
        var gaps = new List<ObservedGap>();
        var lacking = new List<string>();
        foreach (var cell in runs.GroupBy(run => (run.UniqueTokens, run.Preset)).OrderBy(g => g.Key.UniqueTokens).ThenBy(g => g.First().Params))
        {
            var mdm = cell.Where(run => IsObjective(run, "mdm")).OrderBy(run => run.Epochs).ToList();
            var ar = cell.Where(run => IsObjective(run, "ar")).OrderBy(run => run.Epochs).ToList();
            string name = string.Create(CultureInfo.InvariantCulture, $"U = {cell.Key.UniqueTokens:N0} {cell.Key.Preset}");
            if (mdm.Count == 0) lacking.Add($"{name} has no MDM run");
            else if (ar.Count == 0 || ar[0].Epochs > mdm[0].Epochs)
                lacking.Add(string.Create(CultureInfo.InvariantCulture, $"{name} has no AR run of at most {mdm[0].Epochs:G6} epochs"));
            if (mdm.Count > 0 && ar.Count > 0 && Observe(mdm, ar, finalBounds) is { } gap) gaps.Add(gap);
        }
        var critical = gaps.Where(gap => gap.CriticalComputeEstimate is not null).GroupBy(gap => gap.UniqueTokens)
            .Select(budget => ((double)budget.Key, budget.Min(gap => gap.CriticalComputeEstimate!.Value))).OrderBy(point => point.Item1).ToList();
        if (critical.Count < MinBudgetsForLaw || lacking.Count > 0) return new CrossoverObservation(gaps, critical, null, null, lacking);

        var random = new Random(seed);
        var gammas = new List<double>();
        for (int r = 0; r < resamples; r++)
        {
            var drawn = Enumerable.Range(0, critical.Count).Select(_ => critical[random.Next(critical.Count)]).ToList();
            if (drawn.Select(point => point.Item1).Distinct().Count() >= 2) gammas.Add(Crossover.FitPowerLaw(drawn).Exponent);
        }
        var (low, high) = FitBootstrap.Percentiles(gammas);
        return new CrossoverObservation(gaps, critical, Crossover.FitPowerLaw(critical), new BootstrapInterval(low, high, true, ""), lacking);
    }

    private static bool IsObjective(RunResult run, string objective) => string.Equals(run.Objective, objective, StringComparison.OrdinalIgnoreCase);

    /// <summary>The gap of each MDM run against AR's best with no more epochs; null when AR has no run that short.</summary>
    private static ObservedGap? Observe(IReadOnlyList<RunResult> mdm, IReadOnlyList<RunResult> ar, IReadOnlyDictionary<string, FinalBound> finalBounds)
    {
        Pair? PairOf(RunResult run)
        {
            RunResult? reference = ar.Where(candidate => candidate.Epochs <= run.Epochs).MinBy(candidate => candidate.BestValLoss);
            if (reference is null) return null;
            return finalBounds.TryGetValue(SweepRun.IdOf(run.Objective, run.Preset, run.UniqueTokens, (int)run.Epochs), out var bound)
                ? new Pair(run, reference, bound.Loss - reference.BestValLoss, bound.StandardError)
                : new Pair(run, reference, run.BestValLoss - reference.BestValLoss, null);
        }
        var paired = mdm.Select(PairOf).OfType<Pair>().ToList();
        if (paired.Count == 0) return null;
        Pair longest = paired[^1];
        var last = paired.TakeLast(3).Select(pair => (X: Math.Log2(pair.Mdm.Epochs), Y: pair.Gap)).ToList();
        double? slope = last.Count < 2 ? null : Crossover.LeastSquaresSlope(last);
        int crossing = paired.FindIndex(pair => pair.Gap + DecisiveStandardErrors * (pair.StandardError ?? 0) < 0);
        RunResult? crossover = crossing < 0 ? null : paired[crossing].Mdm;
        double? estimate = crossing < 0 ? null : crossing == 0 ? crossover!.Flops : ZeroGapCompute(paired[crossing - 1], paired[crossing]);
        bool withinError = crossover is null && Math.Abs(longest.Gap) <= DecisiveStandardErrors * (longest.StandardError ?? 0);
        return new ObservedGap(longest.Mdm.UniqueTokens, longest.Mdm.Preset, longest.Mdm.Params, longest.Mdm.Epochs, longest.Ar.BestValLoss + longest.Gap,
            longest.StandardError, ar[^1].Epochs, longest.Ar.BestValLoss, longest.Ar.BestEpoch, longest.Gap, slope, crossover?.Epochs, crossover?.Flops,
            estimate, longest.Mdm.Flops, withinError);
    }

    /// <summary>
    /// The compute where the gap is zero on the line through the two runs' gaps against log compute; the earlier run's
    /// compute when its own gap is already not positive (MDM level with AR there, within its error).
    /// </summary>
    private static double ZeroGapCompute(Pair before, Pair crossing)
    {
        if (before.Gap <= 0) return before.Mdm.Flops;
        double fraction = before.Gap / (before.Gap - crossing.Gap);
        return Math.Exp(Math.Log(before.Mdm.Flops) + fraction * (Math.Log(crossing.Mdm.Flops) - Math.Log(before.Mdm.Flops)));
    }

    /// <summary>An MDM run, AR's reference for it, the gap between them and the standard error of MDM's final bound (if any).</summary>
    private sealed record Pair(RunResult Mdm, RunResult Ar, double Gap, double? StandardError);

    /// <summary>
    /// One paragraph a reader can check against the table: whether any crossover was observed, where, and C_crit(U)
    /// when the budgets allow the law.
    /// </summary>
    public string Summary()
    {
        if (Gaps.Count == 0 && Lacking.Count == 0) return "No budget and size has runs of both families: nothing to compare.";
        string lacks = Lacking.Count == 0 ? "" : $"The results lack runs: {string.Join("; ", Lacking)}; C_crit(U) is not fitted until they are there.";
        if (Gaps.Count == 0) return lacks;
        string compared = Compared() + BestSizes();
        return Lacking.Count == 0 ? compared : $"{lacks} {compared}";
    }

    /// <summary>The verdict at each budget measured at two or more sizes, each family at its best size.</summary>
    private string BestSizes()
    {
        if (AcrossSizes.Count == 0) return "";
        string budgets = string.Join("; ", AcrossSizes.Select(budget => string.Create(CultureInfo.InvariantCulture,
            $"U = {budget.UniqueTokens:N0} MDM {budget.MdmPreset} against AR {budget.ArPreset}, {Signed(budget.Gap)}, {budget.Verdict}")));
        return $" Each family at its best size, as the paper compares them: {budgets}.";
    }

    /// <summary>Whether the compared cells crossed and where; C_crit(U) when the budgets allow the law and none lacks runs.</summary>
    private string Compared()
    {
        var crossed = Gaps.Where(gap => gap.CrossoverEpochs is not null).ToList();
        // Closing as the table prints it: a slope that rounds to 0.000 nats per doubling is flat.
        int closing = Gaps.Count(gap => Math.Round(gap.GapSlopePerDoubling ?? 0, 3) < 0);
        int withSlope = Gaps.Count(gap => gap.GapSlopePerDoubling is not null);
        string trend = $"over MDM's last epoch counts the gap is closing in {closing} of {withSlope} cell(s) with two or more MDM runs";
        string law = Lacking.Count > 0 ? ""
            : crossed.Count == 0 ? " C_crit(U) is not fitted."
            : Law is null
            ? $" C_crit(U) is fitted only with crossovers at {MinBudgetsForLaw} or more budgets; they were observed at {CriticalComputes.Count}."
            : string.Create(CultureInfo.InvariantCulture, $" C_crit(U) = {Law.Coefficient:G3}·U^gamma, gamma = {Law.Exponent:F3} (90% bootstrap " +
              $"interval over budgets {GammaInterval!.Low:F3}-{GammaInterval.High:F3}; the paper's {PaperReference.CriticalComputeExponent}).");
        if (crossed.Count == 0 && Gaps.Any(gap => gap.Gap <= 0))
            return string.Create(CultureInfo.InvariantCulture, $"No crossover decided: in none of the {Gaps.Count} (budget, size) cell(s) is MDM's ") +
                   $"bound below AR's early-stopped best by more than {DecisiveStandardErrors:G} standard errors (gaps {Signed(Gaps.Min(gap => gap.Gap))} " +
                   $"to {Signed(Gaps.Max(gap => gap.Gap))} nats); {trend}.{Undecided()}{law}";
        if (crossed.Count == 0)
            return $"No crossover observed: in all {Gaps.Count} (budget, size) cell(s) AR's early-stopped best is ahead of MDM's longest run " +
                   $"(by {Nats(Gaps.Min(gap => gap.Gap))}-{Nats(Gaps.Max(gap => gap.Gap))} nats); {trend}.{Undecided()}{law}";
        string where = string.Join("; ", crossed.Select(gap => string.Create(CultureInfo.InvariantCulture,
            $"U = {gap.UniqueTokens:N0} {gap.Preset} by {gap.CrossoverEpochs:G4} epochs ({gap.CrossoverCompute:G3} FLOPs; gap zero at about {gap.CriticalComputeEstimate:G3})")));
        return $"Crossover observed in {crossed.Count} of {Gaps.Count} (budget, size) cell(s): {where}; {trend}.{Undecided()}{law}";
    }

    /// <summary>The cells whose longest MDM run is within <see cref="DecisiveStandardErrors"/> standard errors of AR's best.</summary>
    private string Undecided()
    {
        var close = Gaps.Where(gap => gap.WithinError).ToList();
        if (close.Count == 0) return "";
        string cells = string.Join("; ", close.Select(gap => string.Create(CultureInfo.InvariantCulture,
            $"U = {gap.UniqueTokens:N0} {gap.Preset} ({Signed(gap.Gap)} ± {gap.MdmStandardError:F3})")));
        return $" Within {DecisiveStandardErrors:G} standard errors of AR's best, not decided: {cells}; evaluate with more samples of t (`vkdiff eval --mc`).";
    }

    /// <summary>
    /// Nats with their sign, to three decimals; a value that rounds to zero is "0.000" (two sections alone would print a
    /// small negative one as "-+0.000").
    /// </summary>
    public static string Signed(double value) => value.ToString("+0.000;-0.000;0.000", CultureInfo.InvariantCulture);

    private static string Nats(double value) => value.ToString("F3", CultureInfo.InvariantCulture);
}
