using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Experiments;

namespace VkDiffusion.Tests.Experiments;

public sealed class CrossoverObservationTests
{
    private static RunResult Run(string objective, long parameters, long unique, double epochs, double bestLoss, double bestEpoch, string preset = "tiny") =>
        new(objective, preset, parameters, unique, epochs, (long)(unique * epochs), 6.0 * parameters * unique * epochs,
            bestLoss + 0.1, bestLoss, bestEpoch, 1, "test");

    /// <summary>AR overfits after ~14 epochs (best 2.45); MDM keeps improving to 2.70 at 256 epochs but stays behind.</summary>
    private static List<RunResult> NoCrossover() =>
    [
        Run("ar", 100_000, 30_000, 1, 4.0, 1), Run("ar", 100_000, 30_000, 4, 3.0, 4),
        Run("ar", 100_000, 30_000, 16, 2.5, 12), Run("ar", 100_000, 30_000, 64, 2.45, 14),
        Run("mdm", 100_000, 30_000, 1, 4.5, 1), Run("mdm", 100_000, 30_000, 4, 3.6, 4), Run("mdm", 100_000, 30_000, 16, 3.2, 16),
        Run("mdm", 100_000, 30_000, 64, 2.9, 64), Run("mdm", 100_000, 30_000, 256, 2.7, 256),
    ];

    [Fact]
    public void Gap_at_the_longest_run_and_its_slope_against_the_early_stopped_ar_best()
    {
        var observation = CrossoverObservation.From(NoCrossover());
        var gap = Assert.Single(observation.Gaps);
        Assert.Equal(256, gap.MdmEpochs);
        Assert.Equal(64, gap.ArLongestEpochs);
        Assert.Equal(2.45, gap.ArBestLoss);
        Assert.Equal(14, gap.ArBestEpoch);
        Assert.Equal(0.25, gap.Gap, 12);
        // Gaps at MDM's last three epoch counts against AR's best with no more epochs: 16: 3.2 - 2.5 = 0.70,
        // 64: 2.9 - 2.45 = 0.45, 256: 0.25; at log2 E = 4, 6, 8 the least-squares slope is (-2·0.2333 + 2·(-0.2167))/8.
        Assert.Equal(-0.1125, gap.GapSlopePerDoubling!.Value, 12);
        Assert.Null(gap.CrossoverEpochs);
        Assert.Null(observation.Law);
        Assert.Equal("No crossover observed: in all 1 (budget, size) cell(s) AR's early-stopped best is ahead of MDM's longest run (by 0.250-0.250 nats); " +
                     "over MDM's last epoch counts the gap is closing in 1 of 1 cell(s) with two or more MDM runs. C_crit(U) is not fitted.", observation.Summary());
    }

    [Fact]
    public void A_gap_that_moves_less_than_the_printed_precision_per_doubling_is_not_closing()
    {
        // As at U = 200k: gaps 0.179, 0.134 and 0.1785 at 64, 128 and 256 epochs, a least-squares slope of -0.00025 per doubling.
        List<RunResult> runs = [Run("ar", 100_000, 30_000, 32, 2.0, 20), Run("mdm", 100_000, 30_000, 64, 2.179, 64),
            Run("mdm", 100_000, 30_000, 128, 2.134, 128), Run("mdm", 100_000, 30_000, 256, 2.1785, 230)];
        var observation = CrossoverObservation.From(runs);
        Assert.Equal(-0.00025, Assert.Single(observation.Gaps).GapSlopePerDoubling!.Value, 12);
        Assert.Contains("the gap is closing in 0 of 1 cell(s) with two or more MDM runs", observation.Summary());
    }

    /// <summary>
    /// MDM is 0.1 behind AR's best (2.0) at E = U/2000 epochs and 0.1 ahead at U/1000: the gap is zero halfway in log
    /// compute, at C = 6·N·U·E = 600·U²/√2, so gamma = 2 and k = 600/√2.
    /// </summary>
    private static List<RunResult> CrossoversAt(params long[] budgets) =>
        budgets.SelectMany(unique => new[]
        {
            Run("ar", 100_000, unique, 1, 2.0, 1),
            Run("mdm", 100_000, unique, unique / 2000.0, 2.1, unique / 2000.0),
            Run("mdm", 100_000, unique, unique / 1000.0, 1.9, unique / 1000.0),
        }).ToList();

    [Fact]
    public void Crossovers_at_three_budgets_give_c_crit_law_with_its_exponent_and_interval()
    {
        var observation = CrossoverObservation.From(CrossoversAt(10_000, 100_000, 1_000_000), resamples: 50, seed: 4);
        Assert.Equal([10, 100, 1000], observation.Gaps.Select(gap => gap.CrossoverEpochs!.Value));
        Assert.Equal([1e4, 1e5, 1e6], observation.CriticalComputes.Select(point => point.UniqueTokens));
        Assert.Equal([6e10, 6e12, 6e14], observation.Gaps.Select(gap => gap.CrossoverCompute!.Value));
        foreach (var (unique, compute) in observation.CriticalComputes) Assert.Equal(1 / Math.Sqrt(2), compute / (600.0 * unique * unique), 12);
        Assert.Equal(2.0, observation.Law!.Exponent, 10);
        Assert.Equal(600 / Math.Sqrt(2), observation.Law.Coefficient, 6);
        // An exact power law: every resample with two distinct budgets refits gamma = 2.
        Assert.Equal(2.0, observation.GammaInterval!.Low, 10);
        Assert.Equal(2.0, observation.GammaInterval.High, 10);
        Assert.Contains("gamma = 2.000 (90% bootstrap interval over budgets 2.000-2.000; the paper's 2.174)", observation.Summary());
    }

    [Fact]
    public void Crossovers_at_two_budgets_are_reported_without_a_law()
    {
        var observation = CrossoversAt(10_000, 100_000);
        var result = CrossoverObservation.From(observation);
        Assert.Null(result.Law);
        Assert.Equal(2, result.CriticalComputes.Count);
        string summary = result.Summary();
        Assert.StartsWith("Crossover observed in 2 of 2 (budget, size) cell(s): U = 10,000 tiny by 10 epochs (6E+10 FLOPs; gap zero at about 4.24E+10)", summary);
        Assert.EndsWith("C_crit(U) is fitted only with crossovers at 3 or more budgets; they were observed at 2.", summary);
    }

    [Fact]
    public void A_budget_lacking_runs_is_named_and_blocks_the_law()
    {
        var runs = CrossoversAt(10_000, 100_000, 1_000_000);
        runs.Add(Run("ar", 100_000, 3_000_000, 64, 1.8, 20));
        runs.Add(Run("mdm", 400_000, 1_000_000, 16, 3.0, 16, preset: "mini"));
        runs.Add(Run("ar", 400_000, 1_000_000, 64, 2.5, 14, preset: "mini"));
        var observation = CrossoverObservation.From(runs);
        Assert.Equal(["U = 1,000,000 mini has no AR run of at most 16 epochs", "U = 3,000,000 tiny has no MDM run"], observation.Lacking);
        // The three complete budgets crossed, but a law on them would ignore the budget that cannot be compared.
        Assert.Equal(3, observation.CriticalComputes.Count);
        Assert.Null(observation.Law);
        Assert.StartsWith("The results lack runs: U = 1,000,000 mini has no AR run of at most 16 epochs; U = 3,000,000 tiny has no MDM run; " +
                          "C_crit(U) is not fitted until they are there. Crossover observed in 3 of 3", observation.Summary());
        Assert.EndsWith("with two or more MDM runs.", observation.Summary());
    }

    [Fact]
    public void Crossover_command_prints_the_observation_from_results_csv() => WithResults(NoCrossover(), (_, results) =>
    {
        var (exitCode, standardOutput, _) = VkDiffusion.Tests.Runtime.CliErrorTests.RunVkdiff(null, "crossover", "--results", results);
        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Contains("No crossover observed", standardOutput);
        Assert.Contains("+0.250   -0.113  none", standardOutput);
    });

    /// <summary>NoCrossover's budget with a mini cell too: AR mini best 2.30 at epoch 10, MDM mini 2.50 after 256 epochs.</summary>
    private static List<RunResult> TwoSizes() =>
    [
        .. NoCrossover(),
        Run("ar", 400_000, 30_000, 16, 2.30, 10, preset: "mini"), Run("mdm", 400_000, 30_000, 256, 2.50, 256, preset: "mini"),
    ];

    [Theory]
    // Tiny's MDM crosses tiny's AR (2.40 ± 0.02 against 2.45) but mini's AR is better still: across sizes AR is ahead.
    [InlineData(null, "tiny", 2.40, 0.10, "AR ahead")]
    // Mini's MDM bound 2.22 ± 0.02 is 0.08 below the best AR (mini's 2.30), more than two standard errors.
    [InlineData(2.22, "mini", 2.22, -0.08, "MDM ahead")]
    // 2.27 ± 0.02 is 0.03 below: within two standard errors.
    [InlineData(2.27, "mini", 2.27, -0.03, "within the error")]
    public void Each_family_at_its_best_size_decides_the_budget(double? miniBound, string mdmPreset, double mdmLoss, double gap, string verdict)
    {
        var bounds = FinalBoundAt256(2.40, 0.02);
        if (miniBound is double loss) bounds["mdm-mini-U30000-E256"] = new FinalBound(loss, 0.02, 128);
        var observation = CrossoverObservation.From(TwoSizes(), bounds);
        Assert.Equal(256, observation.Gaps.Single(cell => cell.Preset == "tiny").CrossoverEpochs);
        var budget = Assert.Single(observation.AcrossSizes);
        Assert.Equal((30_000L, mdmPreset, "mini", 2.30), (budget.UniqueTokens, budget.MdmPreset, budget.ArPreset, budget.ArBestLoss));
        Assert.Equal(mdmLoss, budget.MdmLoss, 12);
        Assert.Equal(gap, budget.Gap, 12);
        Assert.EndsWith($" Each family at its best size, as the paper compares them: U = 30,000 MDM {mdmPreset} against AR mini, " +
                        $"{gap.ToString("+0.000;-0.000", System.Globalization.CultureInfo.InvariantCulture)}, {verdict}.", observation.Summary());
    }

    [Theory]
    [InlineData(0.0734, "+0.073")]
    [InlineData(-0.1004, "-0.100")]
    [InlineData(-0.0004, "0.000")] // the 200k cell's slope over 128, 256 and 512 epochs: two format sections print "-+0.000"
    [InlineData(0.0, "0.000")]
    public void Signed_nats_round_to_three_decimals_and_a_rounded_zero_has_no_sign(double nats, string expected) =>
        Assert.Equal(expected, CrossoverObservation.Signed(nats));

    [Fact]
    public void A_budget_at_one_size_has_no_best_size_comparison() =>
        Assert.Empty(CrossoverObservation.From(NoCrossover()).AcrossSizes);

    [Fact]
    public void Crossover_command_prints_each_family_at_its_best_size() => WithResults(TwoSizes(), (_, results) =>
    {
        var (exitCode, standardOutput, _) = VkDiffusion.Tests.Runtime.CliErrorTests.RunVkdiff(null, "crossover", "--results", results);
        Assert.Equal(ExitCodes.Success, exitCode);
        // MDM mini 2.50 against AR mini 2.30 (tiny's are 2.70 and 2.45).
        Assert.Contains("      30,000     mini         2.500     mini    2.300   +0.200  AR ahead", standardOutput);
    });

    /// <summary>Runs <paramref name="test"/> with a temporary folder holding <paramref name="runs"/> as results.csv, then removes it.</summary>
    private static void WithResults(List<RunResult> runs, Action<string, string> test)
    {
        string directory = Directory.CreateTempSubdirectory("vkdiff-observation-").FullName;
        try
        {
            string results = Path.Combine(directory, "results.csv");
            ResultsTable.Write(results, runs);
            test(directory, results);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>NoCrossover's cell with MDM's 256-epoch best evaluated again: AR's best is 2.45, the training-time MDM best 2.70.</summary>
    private static Dictionary<string, FinalBound> FinalBoundAt256(double loss, double standardError) =>
        new() { ["mdm-tiny-U30000-E256"] = new FinalBound(loss, standardError, 128) };

    [Fact]
    public void A_final_bound_below_ar_by_more_than_two_standard_errors_is_a_crossover()
    {
        var observation = CrossoverObservation.From(NoCrossover(), FinalBoundAt256(2.40, 0.02));
        var gap = Assert.Single(observation.Gaps);
        Assert.Equal(2.40, gap.MdmLoss, 12);
        Assert.Equal(0.02, gap.MdmStandardError);
        Assert.Equal(-0.05, gap.Gap, 12);
        Assert.Equal(256, gap.CrossoverEpochs);
        Assert.Equal(6.0 * 100_000 * 30_000 * 256, gap.CrossoverCompute!.Value, 1);
        // Gap +0.45 at 64 epochs and -0.05 at 256: zero nine tenths of the way in log compute, at 64 x 4^0.9 epochs.
        Assert.Equal(6.0 * 100_000 * 30_000 * 64 * Math.Pow(4, 0.9), gap.CriticalComputeEstimate!.Value, 1);
        Assert.False(gap.WithinError);
        // The slope takes the final bound at 256 epochs: gaps 0.70, 0.45, -0.05 at log2 E = 4, 6, 8.
        Assert.Equal((-2 * 0.70 + 2 * -0.05) / 8, gap.GapSlopePerDoubling!.Value, 12);
        Assert.StartsWith("Crossover observed in 1 of 1 (budget, size) cell(s): U = 30,000 tiny by 256 epochs", observation.Summary());
    }

    [Fact]
    public void A_gap_within_two_standard_errors_is_undecided_whichever_its_sign()
    {
        foreach (double loss in new[] { 2.43, 2.47 })
        {
            var observation = CrossoverObservation.From(NoCrossover(), FinalBoundAt256(loss, 0.015));
            var gap = Assert.Single(observation.Gaps);
            Assert.Null(gap.CrossoverEpochs);
            Assert.True(gap.WithinError);
            string signed = loss < 2.45 ? "-0.020" : "+0.020";
            Assert.Contains($"Within 2 standard errors of AR's best, not decided: U = 30,000 tiny ({signed} ± 0.015); evaluate with more samples of t", observation.Summary());
            Assert.StartsWith(loss < 2.45 ? "No crossover decided: in none of the 1 (budget, size) cell(s) is MDM's bound below AR's early-stopped best by more than 2 standard errors (gaps -0.020 to -0.020 nats)"
                : "No crossover observed: in all 1 (budget, size) cell(s) AR's early-stopped best is ahead of MDM's longest run (by 0.020-0.020 nats)", observation.Summary());
        }
        // Two standard errors further out, the same bound decides against MDM.
        var decided = Assert.Single(CrossoverObservation.From(NoCrossover(), FinalBoundAt256(2.50, 0.015)).Gaps);
        Assert.False(decided.WithinError);
        Assert.Null(decided.CrossoverEpochs);
    }

    [Fact]
    public void Final_bounds_are_read_by_run_id_and_anything_else_is_refused_naming_the_file()
    {
        string directory = Directory.CreateTempSubdirectory("vkdiff-final-bounds-").FullName;
        try
        {
            string Write(string name, string json) { string path = Path.Combine(directory, name); File.WriteAllText(path, json); return path; }
            Write("mdm-tiny-U30000-E256.eval-final.json",
                """{"objective": "mdm", "split": "val", "loss": 2.4, "tokens": 8192, "mc_samples": 128, "standard_error": 0.013, "seed": 1234}""");
            Write("notes.json", "not read");
            var bound = Assert.Single(FinalBounds.Read(directory));
            Assert.Equal("mdm-tiny-U30000-E256", bound.Key);
            Assert.Equal(new FinalBound(2.4, 0.013, 128), bound.Value);

            foreach (var (name, json) in new[]
            {
                ("ar-tiny-U30000-E64.eval-final.json", """{"objective": "ar", "loss": 2.4, "mc_samples": 0, "standard_error": null}"""),
                ("mdm-tiny-U30000-E64.eval-final.json", """{"objective": "mdm", "loss": 2.4, "mc_samples": 8}"""),
                ("mdm-tiny-U30000-E16.eval-final.json", """{"objective": "mdm", "loss": 2.4, """),
            })
            {
                string path = Write(name, json);
                var error = Assert.Throws<InvalidInputException>(() => FinalBounds.Read(directory));
                Assert.Contains(path, error.Message);
                Assert.Contains("an MDM evaluation written by `vkdiff eval --mc K --out`", error.Message);
                File.Delete(path);
            }
            Assert.Contains("is not a folder", Assert.Throws<InvalidInputException>(() => FinalBounds.Read(Path.Combine(directory, "absent"))).Message);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void Crossover_command_compares_by_the_final_bounds_it_is_given() => WithResults(NoCrossover(), (directory, results) =>
    {
        string evals = Directory.CreateDirectory(Path.Combine(directory, "evals")).FullName;
        File.WriteAllText(Path.Combine(evals, "mdm-tiny-U30000-E256.eval-final.json"),
            """{"objective": "mdm", "loss": 2.41, "mc_samples": 128, "standard_error": 0.012}""");
        var (exitCode, standardOutput, _) = VkDiffusion.Tests.Runtime.CliErrorTests.RunVkdiff(null, "crossover", "--results", results, "--final-evals", evals);
        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Contains("2.410±0.012", standardOutput);
        Assert.Contains("-0.040", standardOutput);
        Assert.Contains("by 256 epochs", standardOutput);

        var (refused, _, error) = VkDiffusion.Tests.Runtime.CliErrorTests.RunVkdiff(null, "crossover", "--paper", "--final-evals", evals);
        Assert.Equal(ExitCodes.InvalidInput, refused);
        Assert.Contains("--final-evals refines what --results observed", error);
    });
}
