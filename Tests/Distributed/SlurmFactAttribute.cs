namespace VkDiffusion.Tests.Distributed;

/// <summary>
/// A test that submits jobs to a real Slurm: the private single-node one scripts/test.sh starts (scripts/slurm-single-node.sh)
/// and names in <see cref="ConfVariable"/>. Without it the test is skipped, saying why, so a machine without Slurm, or whose
/// Slurm did not come up within a minute, runs the rest of the suite.
/// </summary>
public sealed class SlurmFactAttribute : FactAttribute
{
    /// <summary>The slurm.conf of the Slurm to submit to; never the machine's own, so a test cannot queue jobs on a real cluster.</summary>
    public const string ConfVariable = "VKDIFF_TEST_SLURM_CONF";

    public SlurmFactAttribute()
    {
        if (Conf is null)
            Skip = $"no single-node Slurm: {ConfVariable} names no slurm.conf (scripts/test.sh starts one with scripts/slurm-single-node.sh " +
                "when slurm-wlm and munge are installed and it comes up within a minute)";
    }

    public static string? Conf => Environment.GetEnvironmentVariable(ConfVariable) is { Length: > 0 } conf && File.Exists(conf) ? conf : null;
}
