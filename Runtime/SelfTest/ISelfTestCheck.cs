using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.SelfTest;

/// <summary>
/// One named check of `vkdiff selftest`: runs a kernel family on the chosen device at a few shapes
/// (aligned and odd) and compares each result with the family's CPU reference. A kernel family joins
/// the self-test by adding one file under Runtime/SelfTest/Checks with a public or internal class
/// implementing this interface and a parameterless constructor; <see cref="SelfTestSuite.Discover"/>
/// finds it by reflection.
/// </summary>
public interface ISelfTestCheck
{
    /// <summary>Unique, lower_snake_case, usually the kernel or family name: "fill", "cross_entropy".</summary>
    string Name { get; }

    /// <summary>One result per case (shape or variant), produced as each finishes.</summary>
    IEnumerable<SelfTestResult> Run(GpuContext context);
}

/// <summary>
/// The outcome of one case. <see cref="MaxError"/> and <see cref="Tolerance"/> are in the units the
/// check states in its case text or class comment: normally the normwise relative error
/// max|device - reference| / max|reference| (see <see cref="SelfTestMeasure"/>). A NaN error fails.
/// </summary>
public sealed record SelfTestResult(string Check, string Case, double MaxError, double Tolerance, string? Failure = null)
{
    public bool Passed => Failure is null && MaxError <= Tolerance;

    /// <summary>A case that could not produce a comparison (an exception, validation messages).</summary>
    public static SelfTestResult Failed(string check, string caseName, string failure) => new(check, caseName, double.NaN, double.NaN, failure);
}
