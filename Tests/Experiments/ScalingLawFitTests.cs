using System.Text.Json;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Experiments;

namespace VkDiffusion.Tests.Experiments;

public sealed class ScalingLawFitTests
{
    private static readonly ScalingLaw PaperArLike = new(A: 800, B: 3000, E0: 2.2, Alpha: 0.33, Beta: 0.38, RDStar: 31.19, RNStar: 55.16);
    private static readonly ScalingLaw MdmLike = PaperArLike with { RDStar = 493.89, RNStar = 1265.65 };

    private static ScalingLaw Truth(string which) => which switch
    {
        "muennighoff-ar" => PaperReference.MuennighoffAr,
        "paper-ar-like" => PaperArLike,
        _ => MdmLike,
    };

    private static void AssertRelative(double expected, double actual, double tolerance, string name) =>
        Assert.True(Math.Abs(actual / expected - 1) <= tolerance, $"{name}: fitted {actual}, true {expected}, tolerance {tolerance:P2}");

    [Theory]
    [InlineData("muennighoff-ar")]
    [InlineData("paper-ar-like")]
    [InlineData("mdm-like")]
    public void Fit_recovers_the_constants_of_noise_free_synthetic_runs(string which)
    {
        var truth = Truth(which);
        var fit = ScalingLawFit.Fit("x", SyntheticRuns.Generate(truth, noiseStd: 0, seed: 1), options: FitOptions.Coarse);
        // Exact data: the global minimum is the truth. Stage 1 has analytic gradients (observed error ≤ 2e-11);
        // stage 2 uses central differences (h = 1e-6 on ln R*), whose gradient error leaves R* off by up to ~5e-8
        // where R* barely moves the loss (mdm-like R_N* = 1266). 1e-6 bounds both with margin.
        var law = fit.Law;
        AssertRelative(truth.A, law.A, 1e-6, "A");
        AssertRelative(truth.B, law.B, 1e-6, "B");
        AssertRelative(truth.E0, law.E0, 1e-6, "E0");
        AssertRelative(truth.Alpha, law.Alpha, 1e-6, "alpha");
        AssertRelative(truth.Beta, law.Beta, 1e-6, "beta");
        AssertRelative(truth.RDStar, law.RDStar, 1e-6, "RDstar");
        AssertRelative(truth.RNStar, law.RNStar, 1e-6, "RNstar");
        Assert.True(fit.Stage1!.RSquared > 1 - 1e-12 && fit.Stage2!.RSquared > 1 - 1e-12);
        Assert.Empty(fit.Warnings);
    }

    [Theory]
    [InlineData("muennighoff-ar")]
    [InlineData("mdm-like")]
    public void Fit_recovers_the_constants_of_noisy_synthetic_runs(string which)
    {
        var truth = Truth(which);
        // 0.1% multiplicative noise (σ = 1e-3 in log-loss, inside the Huber delta): 60 single-epoch and 270 multi-epoch runs.
        var points = SyntheticRuns.Generate(truth, noiseStd: 1e-3, seed: 11);
        var fit = ScalingLawFit.Fit("x", points, options: FitOptions.Coarse);
        var law = fit.Law;
        // Observed errors (seed 11): exponents ≤ 0.9%, E0 ≤ 0.6%, A ≤ 5% and B ≤ 0.3% (ln A trades against
        // alpha·ln N: a 0.3% alpha error moves ln A by ~0.06), R_D* ≤ 3.4%, R_N* ≤ 6.5% (mdm-like R_N* hardly
        // changes the loss). The tolerances are about twice those.
        AssertRelative(truth.Alpha, law.Alpha, 0.02, "alpha");
        AssertRelative(truth.Beta, law.Beta, 0.02, "beta");
        AssertRelative(truth.E0, law.E0, 0.015, "E0");
        AssertRelative(truth.A, law.A, 0.10, "A");
        AssertRelative(truth.B, law.B, 0.10, "B");
        AssertRelative(truth.RDStar, law.RDStar, 0.08, "RDstar");
        AssertRelative(truth.RNStar, law.RNStar, 0.13, "RNstar");
        // The fitted law predicts the true (noise-free) loss of every run within 0.25% (observed ≤ 0.12%).
        foreach (var point in points)
            AssertRelative(truth.Loss(point.Params, point.Tokens, point.UniqueTokens),
                law.Loss(point.Params, point.Tokens, point.UniqueTokens), 0.0025, $"loss at {point}");
        // Mean Huber of residuals ~N(0, 1e-6): E[r²/2] = 5e-7 (observed 3.3e-7 and 3.7e-7).
        Assert.InRange(fit.Stage1!.Huber, 1e-7, 1e-6);
        Assert.InRange(fit.Stage2!.Huber, 1e-7, 1e-6);
    }

    [Fact]
    public void Too_few_single_epoch_runs_is_a_clear_input_error()
    {
        var points = SyntheticRuns.Generate(PaperArLike, 0, 1).Where(p => !p.IsSingleEpoch).Take(20)
            .Concat(SyntheticRuns.Generate(PaperArLike, 0, 1).Where(p => p.IsSingleEpoch).Take(3)).ToList();
        var error = Assert.Throws<InvalidInputException>(() => ScalingLawFit.Fit("mdm", points, options: FitOptions.Coarse));
        Assert.Contains("stage 1", error.Message);
        Assert.Contains("only 3 single-epoch", error.Message);
        Assert.Contains("--fixed", error.Message);
        Assert.Equal(ExitCodes.InvalidInput, error.ExitCode);
    }

    [Fact]
    public void Fixed_constants_make_a_small_sweep_fittable()
    {
        // Five multi-epoch runs and no single-epoch run: with A, B, E0, alpha, beta fixed, stage 1 has nothing to
        // fit and stage 2 fits R_D* and R_N* on five points.
        var truth = PaperArLike;
        var points = SyntheticRuns.Generate(truth, 0, 1).Where(p => !p.IsSingleEpoch).Where((_, i) => i % 60 == 7).ToList();
        Assert.Equal(5, points.Count);
        var fixedConstants = new FixedConstants(truth.A, truth.B, truth.E0, truth.Alpha, truth.Beta);
        var fit = ScalingLawFit.Fit("ar", points, fixedConstants, FitOptions.Coarse);
        Assert.Equal(["A", "B", "E0", "alpha", "beta"], fit.Fixed);
        Assert.Empty(fit.Stage1!.FreeConstants);
        Assert.Equal(truth.A, fit.Law.A);
        // Exact data, only central-difference error in stage 2 (see the noise-free test).
        AssertRelative(truth.RDStar, fit.Law.RDStar, 1e-5, "RDstar");
        AssertRelative(truth.RNStar, fit.Law.RNStar, 1e-5, "RNstar");
    }

    [Fact]
    public void Missing_multi_epoch_runs_are_reported()
    {
        var points = SyntheticRuns.Generate(PaperArLike, 0, 1).Where(p => p.IsSingleEpoch).ToList();
        var fit = ScalingLawFit.Fit("ar", points, options: FitOptions.Coarse);
        Assert.Contains(fit.Warnings, warning => warning.Contains("R_D*"));
    }

    [Fact]
    public void Constants_file_applies_common_values_and_per_objective_overrides()
    {
        using var document = JsonDocument.Parse("""{"alpha": 0.35, "beta": 0.36, "mdm": {"RDstar": 500, "alpha": 0.3}}""");
        var file = FixedConstants.Parse(document.RootElement, "test");
        var ar = FixedConstants.For(file, "ar");
        var mdm = FixedConstants.For(file, "mdm");
        Assert.Equal(new FixedConstants(Alpha: 0.35, Beta: 0.36), ar);
        Assert.Equal(new FixedConstants(Alpha: 0.3, Beta: 0.36, RDStar: 500), mdm);

        using var bad = JsonDocument.Parse("""{"gamma": 1}""");
        var error = Assert.Throws<InvalidInputException>(() => FixedConstants.Parse(bad.RootElement, "test"));
        Assert.Contains("RDstar", error.Message);
    }

    /// <summary>
    /// The two-stage fit gets the same bootstrap as the joint one. SyntheticRuns.Generate puts every single-epoch run
    /// at N = N_opt(U), where stage 1's Chinchilla form is the truth, so the two-stage fit is unbiased there and its
    /// 90 % intervals should cover the true R_D* and R_N* in at least 4 of 5 seeds.
    /// </summary>
    [Fact]
    public void Two_stage_bootstrap_intervals_cover_the_truth_where_stage_one_is_unbiased()
    {
        var covered = new Dictionary<string, int> { ["RDstar"] = 0, ["RNstar"] = 0 };
        for (int seed = 1; seed <= 5; seed++)
        {
            var points = SyntheticRuns.Generate(PaperArLike, noiseStd: 0.01, seed);
            var fit = ScalingLawFit.Fit("x", points, options: FitOptions.Coarse);
            Assert.Equal(FitMethod.TwoStage, fit.Method);
            var (intervals, laws) = FitBootstrap.Run(points, fit, FixedConstants.None, FitOptions.Coarse, resamples: 100, seed);
            Assert.Equal(100, laws.Count);
            Assert.Equal(0, intervals.FailedResamples);
            Assert.Equal(FixedConstants.Names.Order(), intervals.Constants.Keys.Order());
            SyntheticRuns.TallyCoverage(covered, intervals, PaperArLike, $"seed {seed}");
        }
        Assert.True(covered["RDstar"] >= 4 && covered["RNstar"] >= 4, $"covered in 5 seeds: R_D* {covered["RDstar"]}, R_N* {covered["RNstar"]}");
    }

    [Fact]
    public void Two_stage_resamples_that_draw_too_few_single_epoch_runs_are_counted_and_leave_every_constant_not_identified()
    {
        // Five single-epoch runs among 45: stage 1 (five constants) cannot run on a resample that draws fewer than five.
        var all = SyntheticRuns.Generate(PaperArLike, 0, 1);
        var points = all.Where(p => p.IsSingleEpoch).Take(5).Concat(all.Where(p => !p.IsSingleEpoch).Take(40)).ToList();
        var fit = ScalingLawFit.Fit("x", points, options: FitOptions.Coarse);
        const int resamples = 40, seed = 3;
        // The resamples replayed: each draws points.Count runs in turn from one generator seeded with the seed.
        var random = new Random(seed);
        int expectedFailures = 0;
        for (int r = 0; r < resamples; r++)
            if (Enumerable.Range(0, points.Count).Count(_ => random.Next(points.Count) < 5) < 5) expectedFailures++;
        Assert.InRange(expectedFailures, 3, resamples - 3); // the seed gives both kinds of resample

        var (intervals, laws) = FitBootstrap.Run(points, fit, FixedConstants.None, FitOptions.Coarse, resamples, seed);
        Assert.Equal(expectedFailures, intervals.FailedResamples);
        Assert.Equal(resamples - expectedFailures, laws.Count);
        Assert.All(intervals.Constants.Values, interval =>
        {
            Assert.False(interval.Identified);
            Assert.Equal($"{expectedFailures} of {resamples} resamples could not be fitted (too few single-epoch runs drawn)", interval.Note);
        });
    }

    [Fact]
    public void Fit_file_round_trips()
    {
        var fit = ScalingLawFit.Fit("ar", SyntheticRuns.Generate(PaperArLike, 1e-3, 2), options: FitOptions.Coarse);
        string path = Path.Combine(Path.GetTempPath(), $"vkdiff-fit-{Guid.NewGuid():N}.json");
        try
        {
            new FitFile("final_val_loss", new Dictionary<string, ObjectiveFit> { ["ar"] = fit }).Write(path);
            var back = FitFile.Read(path);
            Assert.Equal(fit.Law, back.Law("AR"));
            Assert.Equal(fit.Stage2!.RSquared, back.Objectives["ar"].Stage2!.RSquared);
            Assert.Throws<InvalidInputException>(() => back.Law("mdm"));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
