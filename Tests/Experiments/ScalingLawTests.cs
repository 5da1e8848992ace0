using VkDiffusion.Model;
using VkDiffusion.Trainer.Experiments;

namespace VkDiffusion.Tests.Experiments;

public sealed class ScalingLawTests
{
    private static readonly ScalingLaw Muennighoff = PaperReference.MuennighoffAr;

    [Fact]
    public void Parameter_count_follows_the_paper_formula()
    {
        // 7M preset (L 3, d 128, f 320) by hand: 4·3·128² = 196,608; 3·3·128·320 = 368,640; 6·3·128 = 2,304;
        // 50257·128 = 6,432,896; total 7,000,448.
        // 4·3·128² + 3·3·128·320 + 6·3·128 + 50257·128, the paper's formula for its 7M preset.
        Assert.Equal(7_000_448.0, ModelPresets.Get("7M", VocabularySpec.Gpt2).FlopsParameterCount);
        Assert.All(ModelPresets.PaperNames, name => ModelPresets.Get(name, VocabularySpec.Gpt2).Validate());
    }

    [Fact]
    public void Compute_optimal_allocation_spends_the_compute_and_minimises_the_chinchilla_loss()
    {
        const double compute = 1e20;
        double parameters = Muennighoff.OptimalParams(compute), tokens = Muennighoff.OptimalTokens(compute);
        Assert.Equal(compute, 6 * parameters * tokens, compute * 1e-12);
        // With U = ∞ nothing repeats and N' = N only while N ≤ N_opt(U) (= ∞): the plain Chinchilla loss, which
        // must be higher 1% away from the optimum on both sides along C = 6ND.
        double Loss(double n) => Muennighoff.Loss(n, compute / (6 * n), double.PositiveInfinity);
        Assert.True(Loss(parameters) < Loss(parameters * 1.01));
        Assert.True(Loss(parameters) < Loss(parameters / 1.01));
    }

    [Fact]
    public void Optimal_params_for_unique_tokens_is_N_opt_at_the_compute_whose_D_opt_is_U()
    {
        const double unique = 5e7;
        // Solve D_opt(C) = U for C by bisection on ln C (D_opt is increasing), then compare N_opt(C).
        double low = Math.Log(1e10), high = Math.Log(1e30);
        for (int i = 0; i < 200; i++)
        {
            double middle = 0.5 * (low + high);
            if (Muennighoff.OptimalTokens(Math.Exp(middle)) < unique) low = middle; else high = middle;
        }
        double expected = Muennighoff.OptimalParams(Math.Exp(low));
        Assert.Equal(1.0, Muennighoff.OptimalParamsForUniqueTokens(unique) / expected, 1e-10);
    }

    [Fact]
    public void Effective_tokens_count_repeats_with_diminishing_value()
    {
        const double unique = 1e8;
        var law = Muennighoff;
        // One epoch or less: nothing is repeated.
        Assert.Equal(unique, law.EffectiveTokens(unique, unique), unique * 1e-15);
        Assert.Equal(unique / 2, law.EffectiveTokens(unique / 2, unique), unique * 1e-15);
        // 4 epochs: R_D = 3, D' = U·(1 + R_D*·(1 - e^(-3/R_D*))) written out.
        double expected = unique * (1 + law.RDStar * (1 - Math.Exp(-3 / law.RDStar)));
        Assert.Equal(expected, law.EffectiveTokens(4 * unique, unique), expected * 1e-14);
        // Infinitely many epochs are worth 1 + R_D* epochs.
        Assert.Equal(unique * (1 + law.RDStar), law.EffectiveTokens(1e30, unique), unique * 1e-9);
        // A huge R_D* makes repeats as good as fresh data, even for tiny R_D/R_D* (no cancellation in 1 - e^(-x)).
        var fresh = law with { RDStar = 1e12 };
        Assert.Equal(3 * unique, fresh.EffectiveTokens(3 * unique, unique), 3 * unique * 1e-9);
    }

    [Fact]
    public void Effective_params_discount_only_the_excess_over_N_opt_of_U()
    {
        const double unique = 1e8;
        var law = Muennighoff;
        double useful = law.OptimalParamsForUniqueTokens(unique);
        Assert.Equal(useful / 2, law.EffectiveParams(useful / 2, unique), useful * 1e-15);
        double excess = 3;
        double expected = useful * (1 + law.RNStar * (1 - Math.Exp(-excess / law.RNStar)));
        Assert.Equal(expected, law.EffectiveParams(useful * (1 + excess), unique), expected * 1e-12);
    }

    [Theory]
    [InlineData(1e-20)]
    [InlineData(1e-9)]
    [InlineData(1e-3)]
    [InlineData(0.5)]
    [InlineData(40)]
    public void One_minus_exp_negative_is_accurate(double x)
    {
        // Reference: the series x - x²/2 + x³/6 - x⁴/24 for small x (truncation < x⁵/120), exp otherwise.
        double expected = x < 1e-2 ? x - x * x / 2 + x * x * x / 6 - x * x * x * x / 24 : 1 - Math.Exp(-x);
        Assert.Equal(1.0, ScalingLaw.OneMinusExpNegative(x) / expected, 1e-14);
    }
}
