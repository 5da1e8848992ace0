using VkDiffusion.Trainer.Experiments;

namespace VkDiffusion.Tests.Experiments;

public sealed class CrossoverTests
{
    // A case with a closed form. Both families share A, E0 and alpha = beta; R_N* is so large that N' = N.
    // AR: R_D* → 0, so repeated data is worthless: D' = min(D, U). MDM: R_D* → ∞, so D' = D, but B_MDM > B_AR.
    //   L_MDM(C) = E0 + min_N [A·N^-α + B_M·(6N/C)^α] = E0 + 2·sqrt(A·B_M)·s,  s = (C/6)^(-α/2).
    //   AR at large C is data-limited (its unconstrained optimum would need D > U), so its best N spends exactly
    //   one epoch: L_AR(C) = E0 + A·(6U/C)^α + B_A·U^-α = E0 + A·U^α·s² + B_A·U^-α.
    //   Equal losses: A·U^α·s² - 2·sqrt(A·B_M)·s + B_A·U^-α = 0, whose smaller root (MDM ahead for all smaller s,
    //   i.e. larger C) is s = (sqrt(B_M) - sqrt(B_M - B_A)) / (sqrt(A)·U^α), so
    //   C_crit = 6·U²·(A / (sqrt(B_M) - sqrt(B_M - B_A))²)^(1/α): exactly quadratic in U (k = 2).
    //   At that C, AR's unconstrained optimum D* = sqrt(C/6)·(B_A/A)^(1/2α) exceeds U because
    //   (sqrt(B_M) - sqrt(B_M - B_A))² < B_A for any B_M > B_A, so the data-limited branch is the right one.
    private const double A = 400, BAr = 1500, BMdm = 3000, E0 = 1.8, Exponent = 0.35;
    private static readonly ScalingLaw Ar = new(A, BAr, E0, Exponent, Exponent, RDStar: 1e-9, RNStar: 1e12);
    private static readonly ScalingLaw Mdm = new(A, BMdm, E0, Exponent, Exponent, RDStar: 1e12, RNStar: 1e12);

    private static double ClosedFormCriticalCompute(double uniqueTokens)
    {
        double gap = Math.Sqrt(BMdm) - Math.Sqrt(BMdm - BAr);
        return 6 * uniqueTokens * uniqueTokens * Math.Pow(A / (gap * gap), 1 / Exponent);
    }

    [Theory]
    [InlineData(25e6)]
    [InlineData(50e6)]
    [InlineData(100e6)]
    [InlineData(1e9)]
    public void Critical_compute_matches_the_closed_form(double uniqueTokens)
    {
        var point = Crossover.CriticalCompute(Mdm, Ar, uniqueTokens);
        Assert.NotNull(point.CriticalCompute);
        double expected = ClosedFormCriticalCompute(uniqueTokens);
        // The numerical laws differ from the idealised ones by R_D* = 1e-9 (AR's D' = U·(1 + 1e-9)) and
        // R* = 1e12 (relative ~R/R* ≤ 1e-8), and the N minimisation is converged to 1e-10 in ln N, so the root
        // is exact to ~1e-7 (observed: within 1e-7 for all four U); 1e-5 leaves margin and catches any wrong
        // branch or factor.
        Assert.Equal(1.0, point.CriticalCompute!.Value / expected, 1e-5);
        // At C_crit the two families' best losses are equal (to the bisection's resolution).
        Assert.Equal(point.Ar!.Value.Loss, point.Mdm!.Value.Loss, 1e-9);
        // AR spends exactly one epoch there, MDM several.
        Assert.Equal(1.0, point.Ar.Value.Tokens / uniqueTokens, 1e-6);
        Assert.True(point.Mdm.Value.Tokens > uniqueTokens);
    }

    [Fact]
    public void Critical_compute_scales_as_U_squared_in_the_closed_form_case()
    {
        var budgets = new[] { 25e6, 50e6, 100e6, 400e6 };
        var points = budgets.Select(u => (u, Crossover.CriticalCompute(Mdm, Ar, u).CriticalCompute!.Value)).ToList();
        var law = Crossover.FitPowerLaw(points);
        // Each C_crit is within 1e-7 of c·U² (previous test), so the log-log slope is 2 to ~1e-7.
        Assert.Equal(2.0, law.Exponent, 1e-4);
    }

    [Fact]
    public void Minimum_loss_matches_chinchilla_closed_form_without_data_limits()
    {
        // With U far above any D, D' = D and N' = N exactly: min_N = E0 + 2·sqrt(A·B)·(C/6)^(-α/2), reached at
        // N = (A/B)^(1/2α)·sqrt(C/6). The golden-section search stops at 1e-10 in ln N, where the loss is flat
        // to second order, so the minimum is exact to rounding (1e-12) and the arg-min to ~1e-6.
        const double compute = 1e20;
        var best = Crossover.MinimumLoss(Mdm, compute, 1e30);
        Assert.Equal(E0 + 2 * Math.Sqrt(A * BMdm) * Math.Pow(compute / 6, -Exponent / 2), best.Loss, 1e-12);
        Assert.Equal(1.0, best.Params / (Math.Pow(A / BMdm, 1 / (2 * Exponent)) * Math.Sqrt(compute / 6)), 1e-6);
    }

    [Fact]
    public void No_crossover_is_reported_when_one_family_always_wins()
    {
        var point = Crossover.CriticalCompute(Ar, Ar with { E0 = E0 + 0.1 }, 1e8);
        Assert.Null(point.CriticalCompute);
        Assert.Contains("MDM is already ahead", point.Note);
    }

    [Fact]
    public void Paper_closed_form_reproduces_the_quoted_thresholds()
    {
        // PAPER.md §6 quotes 2.32e18 at 25M, 1.05e19 at 50M, 4.72e19 at 100M (three significant digits).
        Assert.Equal(2.32e18, PaperReference.CriticalCompute(25e6), 0.005e18);
        Assert.Equal(1.05e19, PaperReference.CriticalCompute(50e6), 0.005e19);
        Assert.Equal(4.72e19, PaperReference.CriticalCompute(100e6), 0.005e19);
    }

    [Fact]
    public void Power_law_fit_recovers_an_exact_power_law()
    {
        var points = new[] { 1e6, 1e7, 3e7, 1e8 }.Select(u => (u, 2.12e15 * Math.Pow(u / 1e6, 2.174))).ToList();
        var law = Crossover.FitPowerLaw(points);
        Assert.Equal(2.174, law.Exponent, 1e-10);
        Assert.Equal(1.0, law.Evaluate(1e6) / 2.12e15, 1e-10);
    }
}
