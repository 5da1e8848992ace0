using System.Globalization;
using CommandLine;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Experiments;
using VkDiffusion.Trainer.Files;
using VkDiffusion.Trainer.Plots;

namespace VkDiffusion.Cli.Commands;

[Verb("crossover", HelpText = "Critical compute above which diffusion beats AR, per unique-token budget, from a fit file (and/or the paper's closed form).")]
public sealed class CrossoverCommand : ICommand
{
    [Option("fit", HelpText = "fit.json written by `vkdiff fit --out` with both the ar and mdm objectives.")]
    public string? Fit { get; set; }

    [Option("results", HelpText = "A sweep's results.csv: print what the runs observed (MDM's gap to AR's early-stopped best per budget and size, its trend, any crossover) and fit C_crit(U) = k·U^gamma when crossovers were seen at 3 or more budgets.")]
    public string? Results { get; set; }

    [Option("final-evals", HelpText = "With --results: a folder holding MDM runs' final evaluations as ID.eval-final.json (written by `vkdiff eval --run RUN --mc 128 --out`). Such a run is compared by that bound, and crosses only when it is below AR's best by more than 2 of its standard errors.")]
    public string? FinalEvals { get; set; }

    [Option("unique-tokens", Separator = ',', HelpText = "Unique-token budgets U, comma-separated; suffixes k, M, B allowed (25M,50M,100M). Default: 25M,50M,100M.")]
    public IEnumerable<string> UniqueTokens { get; set; } = [];

    [Option("plot", HelpText = "Write C_crit against U (log-log) to this PNG.")]
    public string? Plot { get; set; }

    [Option("curves", HelpText = "With --results: a folder holding each run's validation curve as ID.metrics.jsonl (ID: the sweep's run id, e.g. mdm-tiny-U3000-E1024), for --observed-plot.")]
    public string? Curves { get; set; }

    [Option("observed-plot", HelpText = "With --results and --curves: write validation loss against compute along each run, each budget's AR best as a level line and MDM's crossings marked, to this PNG.")]
    public string? ObservedPlot { get; set; }

    [Option("observed-law-plot", HelpText = "With --results: write the observed C_crit against U, the law fitted to it and the paper's, to this PNG.")]
    public string? ObservedLawPlot { get; set; }

    [Option("paper", HelpText = "Also print the paper's closed form C_crit(U) = 2.12e15·(U/1e6)^2.174 (alone when --fit is not given).")]
    public bool Paper { get; set; }

    [Option("min-compute", Default = Crossover.DefaultMinCompute, HelpText = "Smallest compute scanned for the sign change, in FLOPs.")]
    public double MinCompute { get; set; } = Crossover.DefaultMinCompute;

    [Option("max-compute", Default = Crossover.DefaultMaxCompute, HelpText = "Largest compute scanned, in FLOPs.")]
    public double MaxCompute { get; set; } = Crossover.DefaultMaxCompute;

    public int Run()
    {
        if (Fit is null && !Paper && Results is null)
            throw new InvalidInputException("Give --fit FILE (from `vkdiff fit --out`), --results FILE (a sweep's results.csv), --paper, or several.");
        if (!(MinCompute > 0 && MaxCompute > MinCompute)) throw new InvalidInputException("Need 0 < --min-compute < --max-compute.");
        if (Plot is not null) OutputPath.RequireFile(Plot, "--plot");
        if ((ObservedPlot ?? ObservedLawPlot) is not null && Results is null)
            throw new InvalidInputException("--observed-plot and --observed-law-plot draw what --results observed: give --results FILE.");
        if (FinalEvals is not null && Results is null) throw new InvalidInputException("--final-evals refines what --results observed: give --results FILE.");
        if ((ObservedPlot is null) != (Curves is null)) throw new InvalidInputException("--observed-plot needs --curves DIR, and --curves is only for it.");
        if (Curves is not null && !Directory.Exists(Curves)) throw new InvalidInputException($"--curves: {Curves} is not a folder.");
        if (ObservedPlot is not null) OutputPath.RequireFile(ObservedPlot, "--observed-plot");
        if (ObservedLawPlot is not null) OutputPath.RequireFile(ObservedLawPlot, "--observed-law-plot");
        var budgets = UniqueTokens.Any() ? UniqueTokens.Select(ParseTokenCount).ToList() : [25e6, 50e6, 100e6];

        if (Results is not null)
        {
            var runs = ResultsTable.Read(Results);
            FitInput.Check(runs, Results);
            var observation = CrossoverObservation.From(runs, FinalEvals is null ? null : FinalBounds.Read(FinalEvals));
            PrintObservation(observation);
            if (ObservedPlot is not null)
                Console.WriteLine($"wrote {ObservedPlot} ({ObservedCrossoverPlots.WriteLossCurves(ObservedPlot, runs, observation, Curves!)} runs' curves from {Curves})");
            if (ObservedLawPlot is not null)
            {
                ObservedCrossoverPlots.WriteCriticalCompute(ObservedLawPlot, observation);
                Console.WriteLine($"wrote {ObservedLawPlot}");
            }
            if (Fit is null && !Paper) return ExitCodes.Success;
        }

        var found = new List<(double U, double C)>();
        FitFile? file = Fit is null ? null : FitFile.Read(Fit);
        if (file is not null)
        {
            ScalingLaw ar = file.Law("ar"), mdm = file.Law("mdm");
            Console.WriteLine($"{"U (tokens)",12} {"C_crit (FLOPs)",15} {"N_AR",10} {"N_MDM",10} {"loss",8}{(Paper ? $" {"paper C_crit",13} {"ours/paper",10}" : "")}");
            foreach (double budget in budgets)
            {
                var point = Crossover.CriticalCompute(mdm, ar, budget, MinCompute, MaxCompute);
                string paperColumns = Paper && point.CriticalCompute is double c
                    ? $" {Format(PaperReference.CriticalCompute(budget)),13} {(c / PaperReference.CriticalCompute(budget)).ToString("F3", CultureInfo.InvariantCulture),10}"
                    : "";
                if (point.CriticalCompute is double critical)
                {
                    found.Add((budget, critical));
                    Console.WriteLine($"{Format(budget),12} {Format(critical),15} {Format(point.Ar!.Value.Params),10} {Format(point.Mdm!.Value.Params),10} " +
                                      $"{point.Ar.Value.Loss.ToString("F4", CultureInfo.InvariantCulture),8}{paperColumns}");
                }
                else
                {
                    Console.WriteLine($"{Format(budget),12} {"none",15}  ({point.Note})");
                }
            }
            // The point laws cross somewhere whenever they can; the bootstrap of `fit` says whether the data back it.
            foreach (var unidentified in file.Crossover?.Where(c => !c.Interval.Identified) ?? [])
                Console.WriteLine($"note: {Fit} says C_crit at U = {Format(unidentified.UniqueTokens)} is not identified ({unidentified.Interval.Note})");
            if (found.Select(p => p.U).Distinct().Count() >= 2)
            {
                var law = Crossover.FitPowerLaw(found);
                Console.WriteLine($"C_crit ∝ U^k: k = {law.Exponent.ToString("F3", CultureInfo.InvariantCulture)}, " +
                                  $"C_crit = {Format(law.Evaluate(1e6))}·(U/1e6)^k" +
                                  $"{(Paper ? $"  (paper: k = {PaperReference.CriticalComputeExponent}, 2.12e15·(U/1e6)^k)" : "")}");
            }
        }
        else
        {
            Console.WriteLine($"{"U (tokens)",12} {"paper C_crit",15}");
            foreach (double budget in budgets)
                Console.WriteLine($"{Format(budget),12} {Format(PaperReference.CriticalCompute(budget)),15}");
            Console.WriteLine($"paper: C_crit = 2.12e15·(U/1e6)^{PaperReference.CriticalComputeExponent}");
        }

        if (Plot is not null)
        {
            WritePlot(Plot, budgets, found, file?.Crossover);
            Console.WriteLine($"wrote {Plot}");
        }
        return ExitCodes.Success;
    }

    private static void PrintObservation(CrossoverObservation observation)
    {
        Console.WriteLine("Observed: MDM's best loss at its longest run against AR's early-stopped best with no more epochs (gap > 0: AR ahead);");
        Console.WriteLine("slope: the gap's least-squares change per doubling of epochs over MDM's last three epoch counts.");
        if (observation.Gaps.Any(gap => gap.MdmStandardError is not null))
            Console.WriteLine("MDM best ± x: a final bound with its Monte Carlo standard error (--final-evals); a crossover needs MDM below by more than " +
                              $"{CrossoverObservation.DecisiveStandardErrors:G} of them.");
        Console.WriteLine($"{"U (tokens)",12} {"preset",8} {"MDM epochs",10} {"MDM best",13} {"AR best",8} {"at epoch",8} {"AR runs to",10} {"gap",8} {"slope",8}  crossover");
        foreach (var gap in observation.Gaps)
        {
            string slope = gap.GapSlopePerDoubling is double value ? CrossoverObservation.Signed(value) : "-";
            string crossover = gap.CrossoverEpochs is double epochs ? $"by {Format(epochs)} epochs ({Format(gap.CrossoverCompute!.Value)} FLOPs; zero gap at {Format(gap.CriticalComputeEstimate!.Value)})"
                : gap.WithinError ? "undecided (within the error)" : "none";
            Console.WriteLine($"{gap.UniqueTokens,12:N0} {gap.Preset,8} {Format(gap.MdmEpochs),10} {Bound(gap.MdmLoss, gap.MdmStandardError),13} {Loss(gap.ArBestLoss),8} " +
                              $"{gap.ArBestEpoch.ToString("F1", CultureInfo.InvariantCulture),8} {Format(gap.ArLongestEpochs),10} {CrossoverObservation.Signed(gap.Gap),8} {slope,8}  {crossover}");
        }
        if (observation.AcrossSizes.Count > 0)
        {
            Console.WriteLine("Each family at its best size (budgets run at two or more sizes; the paper's ΔL minimises each family's loss over size):");
            Console.WriteLine($"{"U (tokens)",12} {"MDM size",8} {"MDM best",13} {"AR size",8} {"AR best",8} {"gap",8}  verdict");
            foreach (var budget in observation.AcrossSizes)
                Console.WriteLine($"{budget.UniqueTokens,12:N0} {budget.MdmPreset,8} {Bound(budget.MdmLoss, budget.MdmStandardError),13} {budget.ArPreset,8} " +
                                  $"{Loss(budget.ArBestLoss),8} {CrossoverObservation.Signed(budget.Gap),8}  {budget.Verdict}");
        }
        Console.WriteLine(observation.Summary());

        static string Loss(double value) => value.ToString("F3", CultureInfo.InvariantCulture);
        static string Bound(double loss, double? standardError) => standardError is double error ? $"{Loss(loss)}±{Loss(error)}" : Loss(loss);
    }

    /// <summary>C_crit against U: ours (the point laws' C_crit, the power law through them, and the bootstrap band that
    /// fit.json holds at the results' budgets) and the paper's closed form.</summary>
    private void WritePlot(string path, IReadOnlyList<double> budgets, IReadOnlyList<(double U, double C)> found,
        IReadOnlyList<CriticalComputeInterval>? intervals)
    {
        var withBand = intervals?.Where(i => double.IsFinite(i.Interval.Low) && double.IsFinite(i.Interval.High)).OrderBy(i => i.UniqueTokens).ToList() ?? [];
        double low = budgets.Concat(withBand.Select(i => i.UniqueTokens)).Min() / 2, high = budgets.Concat(withBand.Select(i => i.UniqueTokens)).Max() * 2;
        var grid = Enumerable.Range(0, 50).Select(i => low * Math.Pow(high / low, i / 49.0)).ToArray();
        var series = new List<PlotSeries>();
        if (found.Select(p => p.U).Distinct().Count() >= 2)
        {
            var law = Crossover.FitPowerLaw(found);
            series.Add(new PlotSeries($"power law, k = {law.Exponent:F3}", grid, grid.Select(law.Evaluate).ToArray()));
        }
        if (Paper || Fit is null)
            series.Add(new PlotSeries("paper: 2.12e15·(U/1e6)^2.174", grid, grid.Select(PaperReference.CriticalCompute).ToArray()));
        if (withBand.Count > 0)
            series.Add(new PlotSeries("ours: 90% bootstrap band of C_crit (fit budgets)", withBand.Select(i => i.UniqueTokens).ToArray(),
                withBand.Select(i => i.CriticalCompute ?? double.NaN).ToArray(),
                Band: new PlotBand(withBand.Select(i => i.Interval.Low).ToArray(), withBand.Select(i => i.Interval.High).ToArray())));
        if (found.Count > 0) // last, so the points are drawn over the lines
            series.Add(new PlotSeries("C_crit of the fitted laws", found.Select(p => p.U).ToArray(), found.Select(p => p.C).ToArray(), Markers: true, Line: false));
        LinePlot.Save(path, new LinePlotSpec("Critical compute: diffusion beats AR above the line", "unique tokens U", "C_crit (FLOPs)")
        {
            LogX = true,
            LogY = true,
        }, series);
    }

    /// <summary>A token count: a number with an optional k/M/B suffix (25M = 25e6).</summary>
    private static double ParseTokenCount(string text)
    {
        string trimmed = text.Trim();
        double scale = 1;
        if (trimmed.Length > 0)
        {
            switch (char.ToUpperInvariant(trimmed[^1]))
            {
                case 'K': scale = 1e3; break;
                case 'M': scale = 1e6; break;
                case 'B' or 'G': scale = 1e9; break;
            }
            if (scale != 1) trimmed = trimmed[..^1];
        }
        if (!double.TryParse(trimmed, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !(value * scale > 0) || !double.IsFinite(value * scale))
            throw new InvalidInputException($"--unique-tokens: '{text}' is not a positive token count (e.g. 25M, 1e8).");
        return value * scale;
    }

    private static string Format(double value) => value.ToString("G3", CultureInfo.InvariantCulture);
}
