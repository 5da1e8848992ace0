using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Experiments;

namespace VkDiffusion.Tests.Experiments;

public sealed class JointFitTests(Xunit.Abstractions.ITestOutputHelper output)
{
    // AR-like: R_D* ~ 15 (the issue's AR truth); MDM-like: R_D* ~ 400 and a larger B (needs more data).
    private static readonly ScalingLaw ArLike = new(A: 800, B: 3000, E0: 2.2, Alpha: 0.33, Beta: 0.38, RDStar: 15.4, RNStar: 30);
    private static readonly ScalingLaw MdmLike = new(A: 800, B: 6000, E0: 2.2, Alpha: 0.33, Beta: 0.38, RDStar: 420, RNStar: 60);

    /// <summary>
    /// Few starts, to keep ten seeds x 200 resamples within tens of seconds: the joint fit's own E0 and R* starts
    /// carry it to the minimum even from a rough two-stage fit (9 stage-1 starts instead of the coarse grid's 162).
    /// </summary>
    private static readonly FitOptions FewStarts = FitOptions.Coarse with
    {
        LogE0Grid = [0], AlphaGrid = [0.5], BetaGrid = [0.5], RStarGrid = [10, 100, 1000], JointRStarStarts = [10, 100, 1000],
    };

    private static ScalingLaw Truth(string which) => which == "ar-like" ? ArLike : MdmLike;

    private static double[] Ones(int count) => Enumerable.Repeat(1.0, count).ToArray();

    [Fact]
    public void Analytic_gradient_matches_central_differences()
    {
        var points = SyntheticRuns.Sweep(ArLike, 0.01, seed: 5);
        var joint = new JointFit(points, FixedConstants.None, huberDelta: 1e-3);
        var weights = Ones(points.Count);
        weights[3] = 4; // a resample's draw counts weigh runs
        weights[7] = 0;
        var objective = joint.Objective(weights);
        // Off the optimum, with every run's N above N_opt(U) for some budget and R* where both discounts bend.
        double[] at = joint.Coordinates(ArLike with { A = 650, B = 4200, E0 = 1.9, Alpha = 0.36, Beta = 0.35, RDStar = 22, RNStar = 12 });
        var analytic = new double[at.Length];
        objective(at, analytic);
        var numeric = new double[at.Length];
        Lbfgs.WithCentralDifferences(x => objective(x, new double[x.Length]), 1e-6)(at, numeric);
        for (int i = 0; i < at.Length; i++)
            Assert.True(Math.Abs(analytic[i] - numeric[i]) <= 1e-6 * Math.Max(1e-3, Math.Abs(numeric[i])),
                $"{FixedConstants.Names[i]}: analytic {analytic[i]}, central differences {numeric[i]}");
    }

    [Fact]
    public void Objective_and_gradient_stay_finite_where_n_over_n_opt_overflows()
    {
        // alpha = 0.005 puts ln N_opt(U) = (a - b + ln alpha - ln beta + beta·ln U)/alpha near -2000: N/N_opt = e^2000.
        var points = SyntheticRuns.Sweep(ArLike, 0.01, seed: 5);
        var joint = new JointFit(points, FixedConstants.None, huberDelta: 1e-3);
        var gradient = new double[7];
        double value = joint.Objective(Ones(points.Count))(joint.Coordinates(ArLike with { A = 1, B = 1e6, Alpha = 0.005 }), gradient);
        Assert.True(double.IsFinite(value));
        Assert.All(gradient, slope => Assert.True(double.IsFinite(slope)));
    }

    [Fact]
    public void Objective_is_the_weighted_mean_huber_of_the_laws_log_prediction()
    {
        var points = SyntheticRuns.Sweep(MdmLike, 0.01, seed: 6);
        var joint = new JointFit(points, FixedConstants.None, huberDelta: 1e-3);
        var law = MdmLike with { B = 5000, RNStar = 9 };
        var weights = points.Select((_, i) => (double)(i % 3)).ToArray();
        double expected = points.Select((p, i) => weights[i] * ScalingLawFit.Huber(ScalingLawFit.LogPrediction(law, p) - Math.Log(p.Loss), 1e-3)).Sum()
                          / weights.Sum();
        Assert.Equal(expected, joint.Objective(weights)(joint.Coordinates(law), new double[7]), 12);
    }

    [Theory]
    [InlineData("ar-like")]
    [InlineData("mdm-like")]
    public void Joint_fit_recovers_the_constants_of_noise_free_runs_where_the_two_stage_fit_cannot(string which)
    {
        var truth = Truth(which);
        var points = SyntheticRuns.Sweep(truth, 0, seed: 1);
        var fit = ScalingLawFit.Fit("x", points, options: FitOptions.Coarse, method: FitMethod.Joint);
        Assert.Equal(FitMethod.Joint, fit.Method);
        double[] expected = truth.Constants(), fitted = fit.Law.Constants();
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(fitted[i] / expected[i] - 1) <= 1e-4, $"{FixedConstants.Names[i]}: fitted {fitted[i]}, true {expected[i]}");
        // Stage 1 reads the over-parameterised single-epoch runs as undiscounted, so the two-stage R_D* is off.
        var twoStage = ScalingLawFit.Fit("x", points, options: FitOptions.Coarse);
        Assert.True(Math.Abs(twoStage.Law.RDStar / truth.RDStar - 1) > 0.01, $"two-stage R_D* {twoStage.Law.RDStar}");
    }

    [Fact]
    public void Joint_fit_starts_from_muennighoffs_law_where_the_two_stage_fit_cannot_run()
    {
        // Two single-epoch runs: stage 1 (five constants) refuses, as on the H100 MDM runs where it ran off to
        // infinite A; the joint fit needs neither and still finds the truth of noise-free runs.
        var points = SyntheticRuns.Sweep(ArLike, 0, seed: 1).Where(p => !p.IsSingleEpoch).Concat(
            SyntheticRuns.Sweep(ArLike, 0, seed: 1).Where(p => p.IsSingleEpoch).Take(2)).ToList();
        Assert.Throws<InvalidInputException>(() => ScalingLawFit.Fit("x", points, options: FewStarts));
        var fit = ScalingLawFit.Fit("x", points, options: FewStarts, method: FitMethod.Joint);
        Assert.Null(fit.Stage1);
        Assert.Contains(fit.Warnings, warning => warning.StartsWith("the two-stage fit failed, so the joint fit started from Muennighoff's AR constants", StringComparison.Ordinal));
        Assert.InRange(fit.Law.RDStar / ArLike.RDStar, 1 - 1e-4, 1 + 1e-4);
        Assert.InRange(fit.Law.RNStar / ArLike.RNStar, 1 - 1e-4, 1 + 1e-4);
    }

    /// <summary>
    /// 1 % multiplicative noise, ten seeds: the point R_D* and R_N* within 25 % of the truth, the 90 % bootstrap
    /// interval covering the truth in at least 8 of 10 seeds (observed: AR-like R_D* 8, R_N* 10; MDM-like R_D* 9, R_N* 10).
    /// </summary>
    [Theory]
    [InlineData("ar-like")]
    [InlineData("mdm-like")]
    public void Noisy_runs_give_point_estimates_within_25_percent_and_intervals_that_cover_the_truth(string which)
    {
        var truth = Truth(which);
        var covered = new Dictionary<string, int> { ["RDstar"] = 0, ["RNstar"] = 0 };
        for (int seed = 1; seed <= 10; seed++)
        {
            var points = SyntheticRuns.Sweep(truth, 0.01, seed);
            var fit = ScalingLawFit.Fit("x", points, options: FewStarts, method: FitMethod.Joint);
            Assert.InRange(fit.Law.RDStar / truth.RDStar, 0.75, 1.25);
            Assert.InRange(fit.Law.RNStar / truth.RNStar, 0.75, 1.25);
            var (intervals, laws) = FitBootstrap.Run(points, fit, FixedConstants.None, FewStarts, resamples: 200, seed);
            Assert.Equal(200, laws.Count);
            Assert.Equal(FixedConstants.Names.Order(), intervals.Constants.Keys.Order());
            SyntheticRuns.TallyCoverage(covered, intervals, truth, $"seed {seed}");
            output.WriteLine($"seed {seed}: R_D* {fit.Law.RDStar:G4} in {intervals.Constants["RDstar"].Low:G4} - {intervals.Constants["RDstar"].High:G4}, " +
                             $"R_N* {fit.Law.RNStar:G4} in {intervals.Constants["RNstar"].Low:G4} - {intervals.Constants["RNstar"].High:G4}");
        }
        Assert.True(covered["RDstar"] >= 8 && covered["RNstar"] >= 8, $"covered in 10 seeds: R_D* {covered["RDstar"]}, R_N* {covered["RNstar"]}");
    }

    [Fact]
    public void Bootstrap_intervals_depend_only_on_the_seed()
    {
        var points = SyntheticRuns.Sweep(ArLike, 0.01, seed: 2);
        var fit = ScalingLawFit.Fit("x", points, options: FitOptions.Coarse, method: FitMethod.Joint);
        var first = FitBootstrap.Run(points, fit, FixedConstants.None, FitOptions.Coarse, resamples: 12, seed: 7).Intervals;
        var second = FitBootstrap.Run(points, fit, FixedConstants.None, FitOptions.Coarse, resamples: 12, seed: 7).Intervals;
        var other = FitBootstrap.Run(points, fit, FixedConstants.None, FitOptions.Coarse, resamples: 12, seed: 8).Intervals;
        Assert.Equal(first.Constants, second.Constants);
        Assert.NotEqual(first.Constants["RDstar"], other.Constants["RDstar"]);
    }

    [Fact]
    public void Percentiles_interpolate_between_order_statistics()
    {
        // 21 values 0..20 (given in reverse): the 5 % quantile sits at position 0.05·20 = 1, the 95 % at 19.
        var (low, high) = FitBootstrap.Percentiles(Enumerable.Range(0, 21).Select(i => (double)(20 - i)).ToList());
        Assert.Equal(1.0, low, 12);
        Assert.Equal(19.0, high, 12);
        // 11 values 0..10: positions 0.5 and 9.5.
        (low, high) = FitBootstrap.Percentiles(Enumerable.Range(0, 11).Select(i => (double)i).ToList());
        Assert.Equal(0.5, low, 12);
        Assert.Equal(9.5, high, 12);
    }

    [Fact]
    public void An_interval_wider_than_ten_fold_is_not_identified()
    {
        Assert.True(FitBootstrap.SpanInterval(3, 29.9).Identified);
        var wide = FitBootstrap.SpanInterval(3, 31);
        Assert.False(wide.Identified);
        Assert.Contains("factor 10", wide.Note);
    }

    [Fact]
    public void A_fixed_exponent_at_or_above_the_bound_is_refused()
    {
        var points = SyntheticRuns.Sweep(ArLike, 0, seed: 1);
        var error = Assert.Throws<InvalidInputException>(() => new JointFit(points, new FixedConstants(Alpha: 1.5), 1e-3));
        Assert.Contains("--method two-stage", error.Message);
    }
}
