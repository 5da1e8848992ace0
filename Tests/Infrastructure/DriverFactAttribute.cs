using System.Diagnostics;

namespace VkDiffusion.Tests.Infrastructure;

/// <summary>
/// A test that runs vkdiff on one Vulkan implementation through scripts/with-driver.sh (RADV null hardware, SwiftShader, Mesa
/// 25's lavapipe); skipped, saying why, where scripts/setup-drivers.sh has not fetched it.
/// </summary>
public sealed class DriverFactAttribute : FactAttribute
{
    public DriverFactAttribute(string implementation)
    {
        // with-driver.sh knows where each implementation lives and exits 69 when it is not there.
        if (DriverRun.Run(implementation, ["true"]).ExitCode == DriverRun.NotInstalled)
            Skip = $"{implementation} is not installed (run scripts/setup-drivers.sh)";
    }
}

/// <summary>Runs a command under scripts/with-driver.sh: one Vulkan implementation selected, Mesa 25's under its own loader.</summary>
public static class DriverRun
{
    /// <summary>with-driver.sh's exit code for an implementation that is not installed.</summary>
    public const int NotInstalled = 69;

    public static string RepositoryRoot
    {
        get
        {
            for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
                if (File.Exists(Path.Combine(directory.FullName, "VkDiffusion.sln"))) return directory.FullName;
            throw new InvalidOperationException($"no VkDiffusion.sln above {AppContext.BaseDirectory}");
        }
    }

    /// <summary>`vkdiff ARGUMENTS` (the vkdiff.dll beside the tests) on <paramref name="implementation"/>.</summary>
    public static (int ExitCode, string StandardOutput, string StandardError) Vkdiff(string implementation, params string[] arguments) =>
        Vkdiff(implementation, new Dictionary<string, string>(), arguments);

    /// <summary>
    /// The same with <paramref name="environment"/> added to this process's (with-driver.sh sets the driver's own). The
    /// suite's extra layers (scripts/test.sh's cooperative-matrix emulation) are left out: each implementation runs as
    /// installed.
    /// </summary>
    public static (int ExitCode, string StandardOutput, string StandardError) Vkdiff(string implementation,
        IReadOnlyDictionary<string, string> environment, params string[] arguments) =>
        Run(implementation, ["dotnet", Path.Combine(AppContext.BaseDirectory, "vkdiff.dll"), .. arguments], environment);

    public static (int ExitCode, string StandardOutput, string StandardError) Run(string implementation, IReadOnlyList<string> command,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["VKDIFF_LAYERS"] = "";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        start.ArgumentList.Add(Path.Combine(RepositoryRoot, "scripts", "with-driver.sh"));
        start.ArgumentList.Add(implementation);
        foreach (string argument in command) start.ArgumentList.Add(argument);
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync(), error = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, output.Result, error.Result);
    }
}
