using VkDiffusion.Model;
using VkDiffusion.Trainer.Experiments;

namespace VkDiffusion.Tests.Experiments;

/// <summary>Sweep-shaped observations generated from a known law, with multiplicative log-normal noise.</summary>
internal static class SyntheticRuns
{
    /// <summary>N of the paper's presets by its formula (GPT-2 vocabulary).</summary>
    public static IEnumerable<double> PaperParameterCounts =>
        ModelPresets.PaperNames.Select(name => ModelPresets.Get(name, VocabularySpec.Gpt2).FlopsParameterCount);

    /// <summary>
    /// Single-epoch runs: every paper preset at D = U = 1, 2, 4 .. 32 times the unique tokens for which it is
    /// compute-optimal (N = N_opt(U)), so N' = N exactly and the Chinchilla form that stage 1 fits is the truth
    /// (a single-epoch run with N &gt; N_opt(U) is already discounted by the law, which stage 1 cannot express).
    /// Multi-epoch runs: every preset at U = 25M, 50M, 100M for 2, 4 .. 512 epochs (the paper goes to 800).
    /// </summary>
    public static List<FitPoint> Generate(ScalingLaw law, double noiseStd, int seed)
    {
        var random = new Random(seed);
        var points = new List<FitPoint>();
        void Add(double parameters, double tokens, double unique) => points.Add(Observe(law, parameters, tokens, unique, noiseStd, random));
        foreach (double parameters in PaperParameterCounts)
        {
            // Inverse of N_opt(U) = G·(U·G)^(beta/alpha).
            double optimalUnique = Math.Pow(parameters / law.G, law.Alpha / law.Beta) / law.G;
            foreach (double factor in new[] { 1.0, 2, 4, 8, 16, 32 })
                Add(parameters, factor * optimalUnique, factor * optimalUnique);
        }
        foreach (double parameters in PaperParameterCounts)
            foreach (double unique in new[] { 25e6, 50e6, 100e6 })
                foreach (double epochs in new[] { 2.0, 4, 8, 16, 32, 64, 128, 256, 512 })
                    Add(parameters, epochs * unique, unique);
        return points;
    }

    /// <summary>
    /// A sweep laid out as a real one would be: eight model sizes from 0.3M to 300M parameters (a factor ~2.7 apart),
    /// three unique-token budgets (25M, 50M, 100M), each size trained 1, 2, 4 .. 512 epochs on each budget. The sizes
    /// straddle N_opt(U) of each budget (law-dependent; ~4-19M for the paper-like constants), so the excess-parameter
    /// term is active, and the epochs run far past R_D*. Multiplicative log-normal noise of <paramref name="noiseStd"/>.
    /// </summary>
    public static List<FitPoint> Sweep(ScalingLaw law, double noiseStd, int seed)
    {
        var random = new Random(seed);
        var points = new List<FitPoint>();
        foreach (double parameters in Enumerable.Range(0, 8).Select(i => 3e5 * Math.Pow(1000, i / 7.0)))
            foreach (double unique in new[] { 25e6, 50e6, 100e6 })
                foreach (double epochs in Enumerable.Range(0, 10).Select(i => Math.Pow(2, i)))
                    points.Add(Observe(law, parameters, epochs * unique, unique, noiseStd, random));
        return points;
    }

    private static FitPoint Observe(ScalingLaw law, double parameters, double tokens, double unique, double noiseStd, Random random)
    {
        double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
        double noise = noiseStd * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        return new FitPoint(parameters, tokens, unique, law.Loss(parameters, tokens, unique) * Math.Exp(noise));
    }

    /// <summary>
    /// Asserts that the bootstrap identified R_D* and R_N*, and counts in <paramref name="covered"/> (keyed RDstar,
    /// RNstar) those whose interval covers the truth.
    /// </summary>
    public static void TallyCoverage(Dictionary<string, int> covered, BootstrapIntervals intervals, ScalingLaw truth, string context)
    {
        foreach (var (name, trueValue) in new[] { ("RDstar", truth.RDStar), ("RNstar", truth.RNStar) })
        {
            var interval = intervals.Constants[name];
            Assert.True(interval.Identified, $"{context} {name}: {interval}");
            if (interval.Low <= trueValue && trueValue <= interval.High) covered[name]++;
        }
    }

    public static RunResult ToRun(FitPoint point, string objective) => new(
        objective, "synthetic", (long)point.Params, (long)point.UniqueTokens, point.Tokens / point.UniqueTokens,
        (long)point.Tokens, 6 * point.Params * point.Tokens, point.Loss, point.Loss, point.Tokens / point.UniqueTokens, 1.0, "none");
}
