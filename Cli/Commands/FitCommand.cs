using System.Globalization;
using CommandLine;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Experiments;

namespace VkDiffusion.Cli.Commands;

[Verb("fit", HelpText = "Fit the data-constrained scaling law (Muennighoff form, two stages) per objective to a sweep's results.csv.")]
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

    [Option("plots", HelpText = "Also write the study's figures into this directory: loss against epochs per budget, loss against compute with the fitted laws.")]
    public string? Plots { get; set; }

    [Option("coarse", HelpText = "Start L-BFGS from 162 grid points instead of Chinchilla's 4500 (quicker, less thorough).")]
    public bool Coarse { get; set; }

    public int Run()
    {
        bool useBest = Loss.ToLowerInvariant() switch
        {
            "final" => false,
            "best" => true,
            _ => throw new InvalidInputException($"--loss must be 'final' or 'best', not '{Loss}'."),
        };
        var runs = ResultsTable.Read(Results);
        var fixedFile = Fixed is null ? null : FixedConstants.Read(Fixed);
        var objectives = runs.Select(r => r.Objective.ToLowerInvariant()).Distinct().OrderBy(o => o, StringComparer.Ordinal).ToList();
        if (objectives.Count == 0) throw new InvalidInputException($"{Results} has no runs.");
        var options = Coarse ? FitOptions.Coarse : new FitOptions();
        string column = useBest ? "best_val_loss" : "final_val_loss";

        var fits = new Dictionary<string, ObjectiveFit>(StringComparer.Ordinal);
        foreach (string objective in objectives)
        {
            var points = ScalingLawFit.Points(runs, objective, useBest);
            var fixedConstants = fixedFile is null ? FixedConstants.None : FixedConstants.For(fixedFile, objective);
            var fit = ScalingLawFit.Fit(objective, points, fixedConstants, options);
            fits[objective] = fit;
            Print(fit, points, column);
        }
        var fitFile = new FitFile(column, fits);
        if (Out is not null)
        {
            fitFile.Write(Out);
            Console.WriteLine($"wrote {Out}");
        }
        if (Plots is not null)
        {
            Directory.CreateDirectory(Plots);
            foreach (string path in StudyPlots.WriteEpochPlots(Plots, runs)) Console.WriteLine($"wrote {path}");
            Console.WriteLine($"wrote {StudyPlots.WriteComputePlot(Path.Combine(Plots, "loss_vs_compute.png"), runs, fitFile)}");
        }
        return ExitCodes.Success;
    }

    private static void Print(ObjectiveFit fit, IReadOnlyList<FitPoint> points, string column)
    {
        Console.WriteLine($"{fit.Objective}: {points.Count} runs ({points.Count(p => p.IsSingleEpoch)} single-epoch), fitted on {column}");
        PrintStage("stage 1 (A, B, E0, alpha, beta on single-epoch runs)", fit.Stage1);
        PrintStage("stage 2 (RDstar, RNstar on all runs)", fit.Stage2);
        var muennighoff = PaperReference.MuennighoffAr;
        bool hasPaper = PaperReference.RStars.TryGetValue(fit.Objective, out var paper);
        Console.WriteLine($"  {"constant",-8} {"fitted",14} {"Muennighoff AR",16} {(hasPaper ? $"paper {fit.Objective.ToUpperInvariant()}" : ""),12}");
        Row("A", fit.Law.A, muennighoff.A, null);
        Row("B", fit.Law.B, muennighoff.B, null);
        Row("E0", fit.Law.E0, muennighoff.E0, null);
        Row("alpha", fit.Law.Alpha, muennighoff.Alpha, null);
        Row("beta", fit.Law.Beta, muennighoff.Beta, null);
        Row("RDstar", fit.Law.RDStar, muennighoff.RDStar, hasPaper ? paper.RDStar : null);
        Row("RNstar", fit.Law.RNStar, muennighoff.RNStar, hasPaper ? paper.RNStar : null);
        Console.WriteLine($"  repeated data half-life ln2·RDstar = {Math.Log(2) * fit.Law.RDStar:G4} epochs");
        if (fit.Fixed.Count > 0) Console.WriteLine($"  fixed from file: {string.Join(", ", fit.Fixed)}");
        foreach (string warning in fit.Warnings) Console.WriteLine($"  warning: {warning}");

        void Row(string name, double value, double reference, double? paperValue)
        {
            string fixedMark = fit.Fixed.Contains(name) ? " (fixed)" : "";
            Console.WriteLine($"  {name,-8} {Format(value),14} {Format(reference),16} {(paperValue is double p ? Format(p) : "-"),12}{fixedMark}");
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
