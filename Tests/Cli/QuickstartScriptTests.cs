using System.Diagnostics;
using System.Text.Json;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Cli;

/// <summary>scripts/quickstart.ps1, the Windows quickstart, run by PowerShell 7 against the vkdiff this suite built.</summary>
public sealed class QuickstartScriptTests
{
    [PwshFact]
    public void The_powershell_quickstart_trains_both_families_on_the_default_corpus_and_passes_exit_codes_through()
    {
        using var temp = new TemporaryDirectory();
        var (exitCode, output) = RunScript("--out", temp.File("quickstart"), "--unique-tokens", "4096", "--epochs", "2", "--seq-len", "32", "--batch", "4");
        Assert.True(exitCode == 0, output);
        Assert.Contains("family | best val loss", output);
        Assert.True(File.Exists(temp.File("quickstart/quickstart.png")));
        // The quickstart's data is the default corpus with its own split: the 500 entries of docs/results.md.
        using var meta = JsonDocument.Parse(File.ReadAllText(temp.File("quickstart/data/meta.json")));
        Assert.Equal(126_924, meta.RootElement.GetProperty("val").GetProperty("token_count").GetInt64());

        var (refused, refusal) = RunScript("--no-such-option");
        Assert.True(refused == ExitCodes.Usage, refusal);
    }

    private static (int ExitCode, string Output) RunScript(params string[] quickstartArguments)
    {
        TestEnvironment.Configure();
        var start = new ProcessStartInfo(PwshFactAttribute.Pwsh) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in (string[])["-NoProfile", "-File", Path.Combine(PwshFactAttribute.Repository, "scripts", "quickstart.ps1"),
                     "-Vkdiff", Path.Combine(AppContext.BaseDirectory, "vkdiff"), .. quickstartArguments])
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        Task<string> error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output + error.Result);
    }
}
