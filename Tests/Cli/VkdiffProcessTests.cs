using VkDiffusion.Cli;

namespace VkDiffusion.Tests.Cli;

/// <summary>How a child vkdiff's end is put in words (tune, report and selftest --isolate print it).</summary>
public sealed class VkdiffProcessTests
{
    [Theory]
    [InlineData(134, "SIGABRT (exit code 134: the driver aborted)")]
    [InlineData(139, "SIGSEGV (exit code 139: the driver crashed)")]
    // Windows' NTSTATUS codes, as wine reported them for the tuner's simulated crash (0xC0000602) and as a driver crash reports.
    [InlineData(unchecked((int)0xC0000005), "an access violation (exit code 0xC0000005: the driver crashed)")]
    [InlineData(unchecked((int)0xC0000602), "a fail-fast abort (exit code 0xC0000602: the process ended itself)")]
    [InlineData(7, "exit code 7")]
    public void Exit_codes_of_crashes_are_named_on_Linux_and_Windows(int exitCode, string expected) =>
        Assert.Equal(expected, VkdiffProcess.DescribeExit(exitCode));
}
