using System.Globalization;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Runtime;
using VkDiffusion.Trainer.Experiments;
using Xunit.Abstractions;

namespace VkDiffusion.Tests.Experiments;

public sealed class FitCliTests(ITestOutputHelper output) : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("vkdiff-fitcli-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    // AR and MDM laws with a crossover in the paper's range: MDM needs more data (B) but values repeats far more.
    private static readonly ScalingLaw Ar = new(A: 800, B: 3000, E0: 2.2, Alpha: 0.33, Beta: 0.38, RDStar: 31.19, RNStar: 55.16);
    private static readonly ScalingLaw Mdm = new(A: 800, B: 6000, E0: 2.2, Alpha: 0.33, Beta: 0.38, RDStar: 493.89, RNStar: 1265.65);

    [Fact]
    public void Fit_then_crossover_from_results_csv()
    {
        string results = Path.Combine(directory, "results.csv"), fit = Path.Combine(directory, "fit.json"), plot = Path.Combine(directory, "ccrit.png");
        ResultsTable.Write(results, SyntheticRuns.Generate(Ar, 0, 1).Select(p => SyntheticRuns.ToRun(p, "ar"))
            .Concat(SyntheticRuns.Generate(Mdm, 0, 2).Select(p => SyntheticRuns.ToRun(p, "mdm"))));

        var (exitCode, standardOutput, standardError) = CliErrorTests.RunVkdiff(null, "fit", "--results", results, "--out", fit, "--coarse",
            "--method", "two-stage", "--bootstrap", "0");
        output.WriteLine(standardOutput + standardError);
        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Contains("Muennighoff AR", standardOutput);
        Assert.Contains("493.89", standardOutput); // the paper's MDM R_D* printed beside ours
        var file = FitFile.Read(fit);
        // Noise-free runs: the fitted laws are the true ones (see ScalingLawFitTests for the 1e-6 bound).
        Assert.Equal(1.0, file.Law("mdm").RDStar / Mdm.RDStar, 1e-5);
        Assert.Equal(1.0, file.Law("ar").B / Ar.B, 1e-5);

        (exitCode, standardOutput, standardError) = CliErrorTests.RunVkdiff(null, "crossover", "--fit", fit,
            "--unique-tokens", "25M,50M,100M", "--plot", plot, "--paper");
        output.WriteLine(standardOutput + standardError);
        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.True(new FileInfo(plot).Length > 1000);
        // The printed C_crit at 100M equals the crossover of the true laws to the 3 digits printed.
        double expected = Crossover.CriticalCompute(Mdm, Ar, 100e6).CriticalCompute!.Value;
        string row = standardOutput.Split('\n').Single(line => line.TrimStart().StartsWith("1E+08", StringComparison.Ordinal));
        double printed = double.Parse(row.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        Assert.Equal(1.0, printed / expected, 0.005);
        Assert.Contains("k = ", standardOutput);
        Assert.Contains("4.72E+19", standardOutput); // the paper's closed form at 100M
    }

    /// <summary>`fit --coarse --bootstrap 20 --seed 3` and the given flags on sweeps of both laws with 1 % noise: fit.json's path and the output.</summary>
    private (string Fit, string Output) FitNoisySweep(params string[] flags)
    {
        string results = Path.Combine(directory, "results.csv"), fit = Path.Combine(directory, "fit.json");
        ResultsTable.Write(results, SyntheticRuns.Sweep(Ar, 0.01, 1).Select(p => SyntheticRuns.ToRun(p, "ar"))
            .Concat(SyntheticRuns.Sweep(Mdm, 0.01, 2).Select(p => SyntheticRuns.ToRun(p, "mdm"))));
        var (exitCode, standardOutput, standardError) = CliErrorTests.RunVkdiff(null,
            ["fit", "--results", results, "--out", fit, "--coarse", "--bootstrap", "20", "--seed", "3", .. flags]);
        output.WriteLine(standardOutput + standardError);
        Assert.Equal(ExitCodes.Success, exitCode);
        return (fit, standardOutput);
    }

    [Fact]
    public void Two_stage_fit_prints_and_stores_bootstrap_intervals_too()
    {
        var (fit, standardOutput) = FitNoisySweep("--method", "two-stage");
        Assert.Contains("90% interval (20 resamples)", standardOutput);
        var file = FitFile.Read(fit);
        foreach (string objective in new[] { "ar", "mdm" })
        {
            var objectiveFit = file.Objectives[objective];
            Assert.Equal(FitMethod.TwoStage, objectiveFit.Method);
            Assert.Equal(3, objectiveFit.Intervals!.Seed);
            Assert.Equal(20, objectiveFit.Intervals.Resamples);
            Assert.Equal(FixedConstants.Names.Order(), objectiveFit.Intervals.Constants.Keys.Order());
        }
        Assert.Equal([25e6, 50e6, 100e6], file.Crossover!.Select(c => c.UniqueTokens));

        // The crossover plot draws those intervals as a band beside the paper's line.
        string plot = Path.Combine(directory, "ccrit.png");
        var (exitCode, _, standardError) = CliErrorTests.RunVkdiff(null, "crossover", "--fit", fit, "--unique-tokens", "25M,100M",
            "--plot", plot, "--paper");
        output.WriteLine(standardError);
        Assert.Equal(ExitCodes.Success, exitCode);
        using var image = SkiaSharp.SKBitmap.Decode(plot);
        Assert.Equal((900, 560), (image.Width, image.Height));
    }

    [Fact]
    public void Joint_fit_prints_and_stores_intervals_and_the_crossover_interval()
    {
        var (fit, standardOutput) = FitNoisySweep();
        Assert.Contains("joint (all constants on all runs", standardOutput);
        Assert.Contains("90% interval (20 resamples)", standardOutput);
        var file = FitFile.Read(fit);
        var arFit = file.Objectives["ar"];
        Assert.Equal(FitMethod.Joint, arFit.Method);
        Assert.Equal(3, arFit.Intervals!.Seed);
        var rdInterval = arFit.Intervals.Constants["RDstar"];
        Assert.InRange(arFit.Law.RDStar, rdInterval.Low, rdInterval.High);
        // C_crit at each budget of the results, beside the crossover of the point laws.
        Assert.Equal([25e6, 50e6, 100e6], file.Crossover!.Select(c => c.UniqueTokens));
        var at100M = file.Crossover![2];
        Assert.Equal(Crossover.CriticalCompute(file.Law("mdm"), file.Law("ar"), 100e6).CriticalCompute, at100M.CriticalCompute);
        Assert.Contains("C_crit(U)", standardOutput);

        // `crossover` passes on the bootstrap's verdict where the point laws cross but the resamples disagree.
        var unidentified = file with { Crossover = [at100M with { Interval = at100M.Interval with { Identified = false, Note = "no crossover in range in 9 of 20 resamples" } }] };
        unidentified.Write(fit);
        var (exitCode, crossoverOutput, _) = CliErrorTests.RunVkdiff(null, "crossover", "--fit", fit, "--unique-tokens", "100M");
        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Contains("C_crit at U = 1E+08 is not identified (no crossover in range in 9 of 20 resamples)", crossoverOutput);
    }

    [Fact]
    public void Mixed_datasets_duplicate_runs_and_a_sweep_too_small_for_the_joint_fit_are_refused_in_one_line()
    {
        var runs = SyntheticRuns.Sweep(Ar, 0.01, 1).Select(p => SyntheticRuns.ToRun(p, "ar")).ToList();
        string Refusal(IEnumerable<RunResult> rows, params string[] extra)
        {
            string results = Path.Combine(directory, $"{Guid.NewGuid():N}.csv");
            ResultsTable.Write(results, rows);
            var (exitCode, _, standardError) = CliErrorTests.RunVkdiff(null, ["fit", "--results", results, "--coarse", "--bootstrap", "0", .. extra]);
            Assert.Equal(ExitCodes.InvalidInput, exitCode);
            Assert.Single(standardError.Trim().Split('\n'));
            return standardError;
        }
        Assert.Contains("mixes runs of 2 dataset values (aaaa, bbbb)",
            Refusal(runs.Select((run, i) => run with { Dataset = i % 2 == 0 ? "aaaa" : "bbbb" })));
        Assert.Contains("mixes runs of 2 vocabulary values (bytes, gpt2)",
            Refusal(runs.Select((run, i) => run with { Vocabulary = i < 5 ? "gpt2" : "bytes" })));
        Assert.Contains("has run ar-synthetic-N300000-U25000000-E1 2 times", Refusal(runs.Prepend(runs[0])));
        Assert.Contains("--method must be 'joint' or 'two-stage', not 'chinchilla'", Refusal(runs, "--method", "chinchilla"));
        // Two sizes only: the joint fit cannot separate A, alpha and R_N*.
        var twoSizes = runs.Where(run => run.Params < 2e6).ToList();
        Assert.Contains("ar: the joint fit needs at least 3 model sizes, 2 unique-token budgets and a multi-epoch run; the results have 2 size(s)",
            Refusal(twoSizes, "--method", "joint"));
        // Without --method the fit falls back to two-stage and says why.
        string fallback = Path.Combine(directory, "two-sizes.csv");
        ResultsTable.Write(fallback, twoSizes);
        var (code, standardOutput, _) = CliErrorTests.RunVkdiff(null, "fit", "--results", fallback, "--coarse");
        Assert.Equal(ExitCodes.Success, code);
        Assert.Contains("the results have 2 size(s), 3 budget(s) and 54 multi-epoch run(s): fitting two-stage.", standardOutput);
    }

    [Fact]
    public void Fit_with_too_few_runs_exits_with_the_input_error_code()
    {
        string results = Path.Combine(directory, "few.csv");
        ResultsTable.Write(results, SyntheticRuns.Generate(Ar, 0, 1).Where(p => p.IsSingleEpoch).Take(2).Select(p => SyntheticRuns.ToRun(p, "ar")));
        var (exitCode, _, standardError) = CliErrorTests.RunVkdiff(null, "fit", "--results", results, "--coarse");
        Assert.Equal(ExitCodes.InvalidInput, exitCode);
        Assert.Contains("only 2 single-epoch run(s)", standardError);
        Assert.DoesNotContain("   at ", standardError);

        string constants = Path.Combine(directory, "constants.json");
        File.WriteAllText(constants, $$"""{"A": {{Ar.A}}, "B": {{Ar.B}}, "E0": {{Ar.E0}}, "alpha": {{Ar.Alpha}}, "beta": {{Ar.Beta}}}""");
        (exitCode, var standardOutput, _) = CliErrorTests.RunVkdiff(null, "fit", "--results", results, "--coarse", "--fixed", constants);
        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Contains("fixed from file: A, B, E0, alpha, beta", standardOutput);
        Assert.Contains("warning: no multi-epoch run", standardOutput);
    }
}
