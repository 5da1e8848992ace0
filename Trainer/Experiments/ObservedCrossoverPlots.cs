using VkDiffusion.Trainer.Plots;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Trainer.Experiments;

/// <summary>
/// The figures of what the runs observed (<see cref="CrossoverObservation"/>): validation loss against compute along
/// each run, and the observed C_crit against U beside the paper's law.
/// </summary>
public static class ObservedCrossoverPlots
{
    /// <summary>How a run's validation curve is named in a curve folder: its sweep id and this suffix (study/ keeps them so).</summary>
    public const string CurveSuffix = ".metrics.jsonl";

    /// <summary>
    /// Validation loss against compute 6N·(tokens seen) at every evaluation: each budget's MDM runs and the AR run whose
    /// best is the reference, that best as a level line across the compute the budget's curves span, and a marker at the first
    /// evaluation of each MDM run below it (where the curve crosses), and the longest MDM run's final bound where the
    /// observation has one (at its best checkpoint's compute). Runs without a curve in
    /// <paramref name="curveDirectory"/> are left out. Returns the runs drawn.
    /// </summary>
    public static int WriteLossCurves(string path, IReadOnlyList<RunResult> runs, CrossoverObservation observation, string curveDirectory)
    {
        var series = new List<PlotSeries>();
        var crossings = new List<(double Compute, double Loss)>();
        var finalBounds = new List<(double Compute, double Loss)>();
        int drawn = 0;
        foreach (var (gap, index) in observation.Gaps.Select((gap, index) => (gap, index)))
        {
            string color = BudgetColors[index % BudgetColors.Length];
            var cell = runs.Where(run => run.UniqueTokens == gap.UniqueTokens && run.Preset == gap.Preset).ToList();
            var reference = cell.Where(run => run.Objective == "ar" && run.BestValLoss == gap.ArBestLoss);
            string budget = $"U = {gap.UniqueTokens:N0} {gap.Preset}";
            double low = double.PositiveInfinity, high = 0;
            foreach (RunResult run in reference.Concat(cell.Where(run => run.Objective == "mdm").OrderBy(run => run.Epochs)))
            {
                string file = Path.Combine(curveDirectory, SweepRun.IdOf(run.Objective, run.Preset, run.UniqueTokens, (int)run.Epochs) + CurveSuffix);
                if (!File.Exists(file)) continue;
                var evaluated = MetricsLog.Read(file).Where(record => record.ValLoss is not null).ToList();
                var computes = evaluated.Select(record => Compute(run, record)).ToList();
                series.Add(new PlotSeries($"{run.Objective.ToUpperInvariant()} {budget}, {run.Epochs:0} epochs", computes,
                    evaluated.Select(record => record.ValLoss!.Value).ToList(), Color: color, Style: run.Objective == "mdm" ? LineStyle.Solid : LineStyle.Dashed));
                low = Math.Min(low, computes.DefaultIfEmpty(low).Min());
                high = Math.Max(high, computes.DefaultIfEmpty(high).Max());
                drawn++;
                if (run.Objective == "mdm" && FirstBelow(run, evaluated, gap.ArBestLoss) is { } crossing) crossings.Add(crossing);
                if (run.Objective == "mdm" && run.Epochs == gap.MdmEpochs && gap.MdmStandardError is not null)
                    finalBounds.Add((6.0 * run.Params * run.UniqueTokens * run.BestEpoch, gap.MdmLoss));
            }
            if (high > low)
                series.Add(new PlotSeries($"AR's best, {budget}: {gap.ArBestLoss:F3}", [low, high], [gap.ArBestLoss, gap.ArBestLoss],
                    Color: color, Style: LineStyle.Dotted));
        }
        if (crossings.Count > 0)
            series.Add(new PlotSeries("MDM below AR's best", crossings.Select(point => point.Compute).ToList(), crossings.Select(point => point.Loss).ToList(),
                Markers: true, Line: false));
        if (finalBounds.Count > 0)
            series.Add(new PlotSeries("MDM's best checkpoint, final bound (--final-evals)", finalBounds.Select(point => point.Compute).ToList(),
                finalBounds.Select(point => point.Loss).ToList(), Color: "#000000", Markers: true, Line: false));
        LinePlot.Save(path, new LinePlotSpec("Validation loss vs compute: MDM against AR's best", "compute C = 6N x tokens seen (FLOPs)",
            "validation loss (nats/token)") { LogX = true, Width = 1100 }, series);
        return drawn;
    }

    /// <summary>One colour per budget (the Category10 palette): a budget's MDM runs solid, its AR run dashed, AR's best dotted.</summary>
    private static readonly string[] BudgetColors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

    /// <summary>The compute and loss of a run's first evaluation below <paramref name="level"/>, null when none is.</summary>
    public static (double Compute, double Loss)? FirstBelow(RunResult run, IReadOnlyList<MetricsRecord> curve, double level) =>
        curve.FirstOrDefault(record => record.ValLoss < level) is { } record ? (Compute(run, record), record.ValLoss!.Value) : null;

    private static double Compute(RunResult run, MetricsRecord record) => 6.0 * run.Params * record.Tokens;

    /// <summary>
    /// The observed C_crit at each budget, the law fitted to them (when there is one) and the paper's, against U; where a
    /// budget and size saw no crossover, its longest MDM run's compute, below which C_crit is not.
    /// </summary>
    public static void WriteCriticalCompute(string path, CrossoverObservation observation)
    {
        var budgets = observation.CriticalComputes.Select(point => point.UniqueTokens).ToList();
        var uncrossed = observation.Gaps.Where(gap => gap.CrossoverCompute is null).ToList();
        var span = budgets.Concat(uncrossed.Select(gap => (double)gap.UniqueTokens)).ToList();
        double low = span.DefaultIfEmpty(1e3).Min() / 2, high = span.DefaultIfEmpty(1e5).Max() * 2;
        var grid = Enumerable.Range(0, 30).Select(i => low * Math.Pow(high / low, i / 29.0)).ToList();
        var series = new List<PlotSeries>
        {
            new("observed C_crit (zero gap between MDM's runs either side of AR's best)", budgets, observation.CriticalComputes.Select(point => point.Compute).ToList(),
                Markers: true, Line: false),
            new($"paper: 2.12e15 (U/1e6)^{PaperReference.CriticalComputeExponent}", grid, grid.Select(PaperReference.CriticalCompute).ToList()),
        };
        if (uncrossed.Count > 0)
            series.Add(new PlotSeries("no crossover up to (longest MDM run)", uncrossed.Select(gap => (double)gap.UniqueTokens).ToList(),
                uncrossed.Select(gap => gap.MdmCompute).ToList(), Markers: true, Line: false));
        if (observation.Law is { } law)
            series.Add(new PlotSeries($"ours: {law.Coefficient:G3} U^{law.Exponent:F2}", grid, grid.Select(law.Evaluate).ToList()));
        LinePlot.Save(path, new LinePlotSpec("Critical compute against unique tokens", "unique tokens U", "C_crit (FLOPs)") { LogX = true, LogY = true },
            series);
    }
}
