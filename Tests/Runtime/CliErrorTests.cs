using System.Diagnostics;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Tests.Runtime;

public sealed class CliErrorTests
{
    /// <summary>Runs the built vkdiff in a child process so loader environment variables take effect.</summary>
    internal static (int ExitCode, string StandardOutput, string StandardError) RunVkdiff(IDictionary<string, string>? environment, params string[] arguments)
    {
        string vkdiff = Path.Combine(AppContext.BaseDirectory, "vkdiff.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(vkdiff);
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync(), error = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, output.Result, error.Result);
    }

    [Fact]
    public void Devices_with_no_driver_exits_with_the_documented_code_and_the_fix()
    {
        var (exitCode, _, error) = RunVkdiff(new Dictionary<string, string>
        {
            ["VK_DRIVER_FILES"] = "/nonexistent.json",
            ["VK_ICD_FILENAMES"] = "/nonexistent.json",
        }, "devices");
        Assert.Equal(ExitCodes.NoDevice, exitCode);
        Assert.Contains("mesa-vulkan-drivers", error);
        Assert.DoesNotContain("   at ", error);
    }

    [Fact]
    public void Devices_lists_lavapipe()
    {
        var (exitCode, output, _) = RunVkdiff(new Dictionary<string, string> { ["VK_DRIVER_FILES"] = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json" }, "devices");
        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Contains("llvmpipe", output);
    }

    [Fact]
    public void An_unknown_verb_is_a_usage_error()
    {
        Assert.Equal(ExitCodes.Usage, RunVkdiff(null, "no-such-verb").ExitCode);
        Assert.Equal(ExitCodes.Success, RunVkdiff(null, "--version").ExitCode);
    }
}
