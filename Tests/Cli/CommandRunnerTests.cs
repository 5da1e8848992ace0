using System.Text.Json;
using VkDiffusion.Cli;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Cli;

public sealed class CommandRunnerTests
{
    private sealed class Throwing(Exception error) : ICommand
    {
        public int Run() => throw error;
    }

    [Fact]
    public void An_unexpected_error_prints_one_line_and_leaves_its_trace_in_a_crash_report()
    {
        using var temp = new TemporaryDirectory();
        var errors = new StringWriter();
        int exitCode = CommandRunner.Run(new Throwing(new InvalidOperationException("the invariant broke\nsecond line")), errors, temp.Path);

        Assert.Equal(ExitCodes.Failure, exitCode);
        string line = Assert.Single(errors.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("InvalidOperationException: the invariant broke", line);
        string report = Assert.Single(Directory.GetFiles(temp.Path, "vkdiff-crash-*.txt"));
        Assert.Contains(report, line);
        Assert.Contains("second line", File.ReadAllText(report));
        Assert.Contains(nameof(Throwing), File.ReadAllText(report));
    }

    [Fact]
    public void Json_reports_hold_non_finite_losses_instead_of_failing()
    {
        Assert.Contains("\"NaN\"", JsonSerializer.Serialize(new { loss = double.NaN }, JsonOptions.Indented));
        Assert.Contains("\"Infinity\"", JsonSerializer.Serialize(new { scores = new[] { double.PositiveInfinity } }, JsonOptions.Lines));
    }

    [Fact]
    public void A_file_system_error_is_one_line_with_its_own_exit_code()
    {
        var errors = new StringWriter();
        int exitCode = CommandRunner.Run(new Throwing(new IOException("No space left on device : '/data/train.bin'")), errors, Path.GetTempPath());
        Assert.Equal(ExitCodes.FileSystem, exitCode);
        Assert.Equal("vkdiff: file-system error: No space left on device : '/data/train.bin'", errors.ToString().Trim());
    }
}
