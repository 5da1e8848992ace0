namespace VkDiffusion.Trainer.Experiments;

/// <summary>Published values to print beside ours (PAPER.md §6).</summary>
public static class PaperReference
{
    /// <summary>Muennighoff et al. 2023, AR fit: every constant.</summary>
    public static ScalingLaw MuennighoffAr { get; } = new(520.8, 1487.7, 1.869, 0.3527, 0.3527, 15.39, 5.31);

    /// <summary>This paper's (R_D*, R_N*) per family; it does not publish its A, B, E0, alpha, beta.</summary>
    public static IReadOnlyDictionary<string, (double RDStar, double RNStar)> RStars { get; } =
        new Dictionary<string, (double, double)>(StringComparer.OrdinalIgnoreCase)
        {
            ["mdm"] = (493.89, 1265.65),
            ["ar"] = (31.19, 55.16),
        };

    /// <summary>The paper's critical compute, C_crit(U) = 2.12e15·(U/1e6)^2.174 FLOPs: diffusion beats AR above it.</summary>
    public static double CriticalCompute(double uniqueTokens) => 2.12e15 * Math.Pow(uniqueTokens / 1e6, CriticalComputeExponent);

    public const double CriticalComputeExponent = 2.174;
}
