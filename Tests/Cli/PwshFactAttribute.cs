namespace VkDiffusion.Tests.Cli;

/// <summary>
/// A test that runs a PowerShell script with PowerShell 7 (the NuGet tool `PowerShell`, which scripts/setup.sh installs
/// into .tools-windows/pwsh); skipped, saying why, where it is not installed.
/// </summary>
public sealed class PwshFactAttribute : FactAttribute
{
    public static string Repository => Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", ".."));
    public static string Pwsh => Path.Combine(Repository, ".tools-windows", "pwsh", OperatingSystem.IsWindows() ? "pwsh.exe" : "pwsh");

    public PwshFactAttribute()
    {
        if (!File.Exists(Pwsh)) Skip = $"no PowerShell 7 at {Pwsh} (scripts/setup.sh installs it: dotnet tool install --tool-path .tools-windows/pwsh PowerShell --version 7.6.10)";
    }
}
