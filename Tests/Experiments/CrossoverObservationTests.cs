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

    /// <summary>MDM passes AR's best (2.0) exactly at E = U/1000 epochs: C = 6·N·U·E = 600·U², so gamma = 2 and k = 600.</summary>
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
        foreach (var (unique, compute) in observation.CriticalComputes) Assert.Equal(1.0, compute / (600 * unique * unique), 12);
        Assert.Equal(2.0, observation.Law!.Exponent, 10);
        Assert.Equal(600, observation.Law.Coefficient, 6);
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
        Assert.StartsWith("Crossover observed in 2 of 2 (budget, size) cell(s): U = 10,000 tiny by 10 epochs (6E+10 FLOPs)", summary);
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
    public void Crossover_command_prints_the_observation_from_results_csv()
    {
        string directory = Directory.CreateTempSubdirectory("vkdiff-observation-").FullName;
        try
        {
            string results = Path.Combine(directory, "results.csv");
            ResultsTable.Write(results, NoCrossover());
            var (exitCode, standardOutput, _) = VkDiffusion.Tests.Runtime.CliErrorTests.RunVkdiff(null, "crossover", "--results", results);
            Assert.Equal(ExitCodes.Success, exitCode);
            Assert.Contains("No crossover observed", standardOutput);
            Assert.Contains("+0.250   -0.113  none", standardOutput);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
