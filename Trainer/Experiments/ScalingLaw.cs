using System.Text.Json.Serialization;

namespace VkDiffusion.Trainer.Experiments;

/// <summary>
/// The data-constrained scaling law of Muennighoff et al. 2023 (PAPER.md §6):
/// L(N, D, U) = E0 + A / N'^alpha + B / D'^beta, where D' and N' discount repeated data and excess parameters
/// with e-folding constants R_D* and R_N*. N counts parameters, D training tokens, U unique tokens.
/// </summary>
public sealed record ScalingLaw(
    [property: JsonPropertyName("A")] double A,
    [property: JsonPropertyName("B")] double B,
    [property: JsonPropertyName("E0")] double E0,
    [property: JsonPropertyName("alpha")] double Alpha,
    [property: JsonPropertyName("beta")] double Beta,
    [property: JsonPropertyName("RDstar")] double RDStar,
    [property: JsonPropertyName("RNstar")] double RNStar)
{
    /// <summary>Chinchilla's G = ((alpha·A)/(beta·B))^(1/(alpha+beta)).</summary>
    [JsonIgnore]
    public double G => Math.Pow(Alpha * A / (Beta * B), 1 / (Alpha + Beta));

    /// <summary>Compute-optimal parameter count N_opt(C) = G·(C/6)^(beta/(alpha+beta)) for C = 6ND FLOPs.</summary>
    public double OptimalParams(double compute) => G * Math.Pow(compute / 6, Beta / (Alpha + Beta));

    /// <summary>Compute-optimal token count D_opt(C) = (C/6)^(alpha/(alpha+beta)) / G.</summary>
    public double OptimalTokens(double compute) => Math.Pow(compute / 6, Alpha / (Alpha + Beta)) / G;

    /// <summary>
    /// N_opt(U): the compute-optimal parameter count at the compute whose D_opt is U.
    /// D_opt(C) = U gives C/6 = (U·G)^((alpha+beta)/alpha), so N_opt = G·(U·G)^(beta/alpha).
    /// </summary>
    public double OptimalParamsForUniqueTokens(double uniqueTokens) => G * Math.Pow(uniqueTokens * G, Beta / Alpha);

    /// <summary>
    /// D' = U_D + U_D·R_D*·(1 - exp(-R_D/R_D*)) with U_D = min(U, D) and R_D = D/U_D - 1 (= epochs - 1 from one
    /// epoch on; a run shorter than one epoch repeats nothing, so D' = D).
    /// </summary>
    public double EffectiveTokens(double tokens, double uniqueTokens)
    {
        double uniqueSeen = Math.Min(uniqueTokens, tokens);
        double repetitions = tokens / uniqueSeen - 1;
        return Discounted(uniqueSeen, repetitions, RDStar);
    }

    /// <summary>N' = U_N + U_N·R_N*·(1 - exp(-R_N/R_N*)) with U_N = min(N, N_opt(U)) and R_N = max(N/U_N - 1, 0).</summary>
    public double EffectiveParams(double parameters, double uniqueTokens)
    {
        double usefulParams = Math.Min(parameters, OptimalParamsForUniqueTokens(uniqueTokens));
        double excess = Math.Max(parameters / usefulParams - 1, 0);
        return Discounted(usefulParams, excess, RNStar);
    }

    /// <summary>The seven constants in the order of <see cref="FixedConstants.Names"/>.</summary>
    public double[] Constants() => [A, B, E0, Alpha, Beta, RDStar, RNStar];

    public double Loss(double parameters, double tokens, double uniqueTokens) =>
        E0 + A / Math.Pow(EffectiveParams(parameters, uniqueTokens), Alpha)
           + B / Math.Pow(EffectiveTokens(tokens, uniqueTokens), Beta);

    /// <summary>base·(1 + R*·(1 - exp(-R/R*))), with 1 - exp(-x) computed without cancellation for tiny x.</summary>
    private static double Discounted(double baseCount, double repetitions, double eFolding) =>
        baseCount * (1 + eFolding * OneMinusExpNegative(repetitions / eFolding));

    /// <summary>1 - exp(-x), accurate for tiny x: Kahan's expm1 trick, 1 - exp(-x) = (u - 1)·x / log u with u = exp(-x).</summary>
    internal static double OneMinusExpNegative(double x)
    {
        double u = Math.Exp(-x);
        if (u == 1.0) return x;
        double um1 = u - 1.0;
        if (um1 == -1.0) return 1.0;
        return um1 * x / Math.Log(u);
    }
}
