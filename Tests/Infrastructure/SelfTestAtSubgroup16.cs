using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Runtime;

namespace VkDiffusion.Tests.Infrastructure;

/// <summary>
/// Runs `vkdiff selftest --filter CHECK` in a child process on lavapipe at LP_NATIVE_VECTOR_WIDTH=512 (subgroup 16, where
/// the emulation layer offers 16x16x16 tiles; the width is read when the driver loads, hence the child) with
/// SWITCH=coopmat and validation on, asserts that every case passed, and returns the output.
/// </summary>
public static class SelfTestAtSubgroup16
{
    public static string RunCooperativeMatrix(string switchVariable, string check)
    {
        var (exitCode, output, error) = CliErrorTests.RunVkdiff(new Dictionary<string, string>
        {
            ["LP_NATIVE_VECTOR_WIDTH"] = "512",
            [switchVariable] = "coopmat",
            ["VKDIFF_VALIDATION"] = "1",
            ["VK_DRIVER_FILES"] = GpuFixture.LavapipeIcd,
        }, "selftest", "--filter", check);
        Assert.True(exitCode == ExitCodes.Success, output + error);
        Assert.DoesNotContain("FAIL", output);
        return output;
    }
}
