using System.Globalization;
using CommandLine;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Experiments;

namespace VkDiffusion.Cli.Commands;

[Verb("fit", HelpText = "Fit the data-constrained scaling law (Muennighoff form; joint or two-stage) per objective to a sweep's results.csv, with bootstrap intervals.")]
public sealed class FitCommand : ICommand
{
    [Option("results", Required = true, HelpText = "The sweep's results.csv.")]
    public string Results { get; set; } = "";

    [Option("out", HelpText = "Write the fitted constants and fit statistics to this JSON file (input of `vkdiff crossover`).")]
    public string? Out { get; set; }

    [Option("fixed", HelpText = "JSON with constants to hold instead of fitting: any of A, B, E0, alpha, beta, RDstar, RNstar, optionally per objective ({\"ar\": {...}, \"mdm\": {...}}).")]
    public string? Fixed { get; set; }

    [Option("loss", Default = "final", HelpText = "Which validation loss to fit: final (final_val_loss) or best (best_val_loss).")]
    public string Loss { get; set; } = "final";

    [Option("plots", HelpText = "Also write the study's figures into this directory: loss against epochs per budget, loss against compute with the fitted laws and their bootstrap bands.")]
    public string? Plots { get; set; }

    [Option("coarse", HelpText = "Start L-BFGS from 162 grid points instead of Chinchilla's 4500 (quicker, less thorough).")]
    public bool Coarse { get; set; }

    [Option("method", HelpText = "joint (all seven constants at once, from the two-stage fit) or two-stage. Default: joint where the data identify it, else two-stage.")]
    public string? Method { get; set; }

    [Option("bootstrap", Default = 200, HelpText = "Bootstrap resamples of runs for the 90% intervals, refitted by the same method (0: none).")]
    public int Bootstrap { get; set; } = 200;

    [Option("seed", Default = 1, HelpText = "Seed of the bootstrap resampling.")]
    public int Seed { get; set; } = 1;

    public int Run()
    {
        bool useBest = Loss.ToLowerInvariant() switch
        {
            "final" => false,
            "best" => true,
            _ => throw new InvalidInputException($"--loss must be 'final' or 'best', not '{Loss}'."),
        };
        FitMethod? requested = Method?.ToLowerInvariant() switch
        {
            null => null,
            "joint" => FitMethod.Joint,
            "two-stage" => FitMethod.TwoStage,
            _ => throw new InvalidInputException($"--method must be 'joint' or 'two-stage', not '{Method}'."),
        };
        if (Bootstrap < 0) throw new InvalidInputException($"--bootstrap must be 0 (none) or a number of resamples, not {Bootstrap}.");
        var runs = ResultsTable.Read(Results);
        FitInput.Check(runs, Results);
        var fixedFile = Fixed is null ? null : FixedConstants.Read(Fixed);
        var objectives = runs.Select(r => r.Objective.ToLowerInvariant()).Distinct().OrderBy(o => o, StringComparer.Ordinal).ToList();
        if (objectives.Count == 0) throw new InvalidInputException($"{Results} has no runs.");
        var options = Coarse ? FitOptions.Coarse : new FitOptions();
        string column = useBest ? "best_val_loss" : "final_val_loss";

        var fits = new Dictionary<string, ObjectiveFit>(StringComparer.Ordinal);
        var resamples = new Dictionary<string, IReadOnlyList<ScalingLaw>>(StringComparer.Ordinal);
        foreach (string objective in objectives)
        {
            var points = ScalingLawFit.Points(runs, objective, useBest);
            var fixedConstants = fixedFile is null ? FixedConstants.None : FixedConstants.For(fixedFile, objective);
            string? shortfall = FitInput.JointFitShortfall(objective, points);
            if (shortfall is not null && requested == FitMethod.Joint)
                throw new InvalidInputException($"{shortfall}. Add runs, or use --method two-stage.");
            FitMethod method = requested ?? (shortfall is null ? FitMethod.Joint : FitMethod.TwoStage);
            if (shortfall is not null && requested is null) Console.WriteLine($"{shortfall}: fitting two-stage.");
            var fit = ScalingLawFit.Fit(objective, points, fixedConstants, options, method);
            if (Bootstrap > 0)
            {
                var (intervals, laws) = FitBootstrap.Run(points, fit, fixedConstants, options, Bootstrap, Seed);
                fit = fit with { Intervals = intervals };
                resamples[objective] = laws;
            }
            fits[objective] = fit;
            Print(fit, points, column);
        }
        var crossover = CrossoverIntervals(runs, fits, resamples);
        var fitFile = new FitFile(column, fits, crossover);
        if (Out is not null)
        {
            fitFile.Write(Out);
            Console.WriteLine($"wrote {Out}");
        }
        if (Plots is not null)
        {
            Directory.CreateDirectory(Plots);
            foreach (string path in StudyPlots.WriteEpochPlots(Plots, runs)) Console.WriteLine($"wrote {path}");
            Console.WriteLine($"wrote {StudyPlots.WriteComputePlot(Path.Combine(Plots, "loss_vs_compute.png"), runs, fitFile, resamples)}");
        }
        return ExitCodes.Success;
    }

    /// <summary>C_crit(U) with intervals at the results' budgets, when both families have bootstrap resamples.</summary>
    private static IReadOnlyList<CriticalComputeInterval>? CrossoverIntervals(IReadOnlyList<RunResult> runs,
        Dictionary<string, ObjectiveFit> fits, Dictionary<string, IReadOnlyList<ScalingLaw>> resamples)
    {
        if (!resamples.TryGetValue("ar", out var ar) || !resamples.TryGetValue("mdm", out var mdm)) return null;
        var budgets = runs.Select(run => (double)run.UniqueTokens).Distinct().Order().ToList();
        var intervals = budgets.Select(budget => Crossover.CriticalComputeInterval(fits["mdm"].Law, fits["ar"].Law, mdm, ar, budget)).ToList();
        Console.WriteLine($"C_crit(U), the compute above which MDM beats AR, with its 90% bootstrap interval ({ar.Count} resample pairs):");
        foreach (var point in intervals)
        {
            string value = point.CriticalCompute is double critical ? $"{Format(critical)} FLOPs" : "no crossover in range";
            string interval = double.IsNaN(point.Interval.Low) ? "" : $" [{Format(point.Interval.Low)}, {Format(point.Interval.High)}]";
            Console.WriteLine(point.Interval.Identified
                ? $"  U = {Format(point.UniqueTokens)}: {value}{interval}"
                : $"  U = {Format(point.UniqueTokens)}: not identified ({point.Interval.Note}; point fit: {value}){interval}");
        }
        return intervals;
    }

    private static void Print(ObjectiveFit fit, IReadOnlyList<FitPoint> points, string column)
    {
        Console.WriteLine($"{fit.Objective}: {points.Count} runs ({points.Count(p => p.IsSingleEpoch)} single-epoch), fitted on {column}");
        if (fit.Stage1 is not null) PrintStage("stage 1 (A, B, E0, alpha, beta on single-epoch runs)", fit.Stage1);
        if (fit.Stage2 is not null) PrintStage("stage 2 (RDstar, RNstar on all runs)", fit.Stage2);
        if (fit.Joint is not null) PrintStage("joint (all constants on all runs)", fit.Joint);
        var muennighoff = PaperReference.MuennighoffAr;
        bool hasPaper = PaperReference.RStars.TryGetValue(fit.Objective, out var paper);
        string intervalTitle = fit.Intervals is null ? "" : $"{$"90% interval ({fit.Intervals.Resamples} resamples)",-30}";
        Console.WriteLine($"  {"constant",-8} {"fitted",14} {intervalTitle}{"Muennighoff AR",16} {(hasPaper ? $"paper {fit.Objective.ToUpperInvariant()}" : ""),12}");
        Row("A", fit.Law.A, muennighoff.A, null);
        Row("B", fit.Law.B, muennighoff.B, null);
        Row("E0", fit.Law.E0, muennighoff.E0, null);
        Row("alpha", fit.Law.Alpha, muennighoff.Alpha, null);
        Row("beta", fit.Law.Beta, muennighoff.Beta, null);
        Row("RDstar", fit.Law.RDStar, muennighoff.RDStar, hasPaper ? paper.RDStar : null);
        Row("RNstar", fit.Law.RNStar, muennighoff.RNStar, hasPaper ? paper.RNStar : null);
        if (fit.Intervals?.Constants.GetValueOrDefault("RDstar") is { Identified: false })
            Console.WriteLine("  repeated data half-life: not identified (RDstar is not)");
        else
            Console.WriteLine($"  repeated data half-life ln2·RDstar = {Math.Log(2) * fit.Law.RDStar:G4} epochs");
        if (fit.Intervals is { FailedResamples: > 0 } failures)
            Console.WriteLine($"  {failures.FailedResamples} of {failures.Resamples} resamples could not be refitted (too few single-epoch runs drawn); the intervals are over the rest");
        if (fit.Fixed.Count > 0) Console.WriteLine($"  fixed from file: {string.Join(", ", fit.Fixed)}");
        foreach (string warning in fit.Warnings) Console.WriteLine($"  warning: {warning}");

        void Row(string name, double value, double reference, double? paperValue)
        {
            string fixedMark = fit.Fixed.Contains(name) ? " (fixed)" : "";
            BootstrapInterval? interval = null;
            fit.Intervals?.Constants.TryGetValue(name, out interval);
            // A constant the data do not pin down gets words, not a precise-looking number.
            string fitted = interval is { Identified: false } ? "not identified" : Format(value);
            string intervalColumn = fit.Intervals is null ? "" : $"{(interval is null ? "-" : $"[{Format(interval.Low)}, {Format(interval.High)}]"),-30}";
            string note = interval is { Identified: false } ? $"  ({interval.Note})" : "";
            Console.WriteLine($"  {name,-8} {fitted,14} {intervalColumn}{Format(reference),16} {(paperValue is double p ? Format(p) : "-"),12}{fixedMark}{note}");
        }
    }

    private static void PrintStage(string title, StageReport stage)
    {
        string free = stage.FreeConstants.Count == 0 ? "none (all fixed)" : string.Join(", ", stage.FreeConstants);
        Console.WriteLine($"  {title}: {stage.Points} points, free {free}, {stage.Starts} starts, " +
                          $"R² {stage.RSquared.ToString("F4", CultureInfo.InvariantCulture)}, mean Huber {Format(stage.Huber)}");
    }

    private static string Format(double value) => value.ToString("G5", CultureInfo.InvariantCulture);
}
