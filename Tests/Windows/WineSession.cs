using System.Diagnostics;
using VkDiffusion.Tests.Distributed;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Windows;

/// <summary>
/// The win-x64 release build of vkdiff, published from this checkout, run under wine 8 on a private Xvfb display. The
/// environment holds wine's workarounds, each for a limit of wine's, not of Windows (docs/windows.md):
/// - DOTNET_EnableWriteXorExecute=0: .NET maps its JIT's code pages twice (writable, executable) by default; under
///   wine 8 that crashes the runtime at start.
/// - an X display (Xvfb): winevulkan, wine's Vulkan bridge to the host's loader, fails vkCreateInstance without one,
///   even for compute only.
/// - the release is published with IncludeAllContentForSelfExtract (Cli.csproj, for all builds): a single-file
///   executable that maps its assemblies from the bundle does not start under wine 8.
/// </summary>
internal sealed class WineSession : IDisposable
{
    private readonly Process xvfb;
    private readonly Dictionary<string, string> environment;

    public TemporaryDirectory Work { get; } = new();
    public string Executable { get; }

    private WineSession(string executable, Process xvfb, string display)
    {
        Executable = executable;
        this.xvfb = xvfb;
        environment = new Dictionary<string, string>
        {
            ["DISPLAY"] = display,
            // One prefix per user, kept between runs: creating one takes wine ~30 s.
            ["WINEPREFIX"] = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "vkdiffusion", "wine"),
            ["WINEDEBUG"] = "-all",
            ["DOTNET_EnableWriteXorExecute"] = "0",
            // The suite's own extra layers (scripts/test.sh's cooperative-matrix emulation) are Linux libraries that the
            // Windows loader under wine cannot load.
            ["VKDIFF_LAYERS"] = "",
            // Each build unpacks itself under a name of its own; here, not in the prefix, so nothing piles up there.
            ["DOTNET_BUNDLE_EXTRACT_BASE_DIR"] = WindowsPath(Work.File("bundle")),
        };
    }

    /// <summary>Publishes the win-x64 build (dotnet publish -r win-x64, the properties of Cli.csproj) and starts Xvfb.</summary>
    public static WineSession Start()
    {
        string repository = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", ".."));
        string output = Path.Combine(Path.GetTempPath(), "vkdiffusion-test-cache", "win-x64");
        var (publishExit, publishOutput) = Run("dotnet", "publish", Path.Combine(repository, "Cli"), "-c", "Release", "-r", "win-x64", "-nologo", "-v", "quiet", "-o", output);
        if (publishExit != 0) throw new InvalidOperationException($"dotnet publish -r win-x64 failed:\n{publishOutput}");
        // -displayfd: Xvfb picks a free display and writes its number once it accepts connections.
        // Its messages go to the test's own stderr: unread, a redirected stream could fill and stall the server.
        var xvfb = Process.Start(new ProcessStartInfo("Xvfb", ["-displayfd", "1", "-nolisten", "tcp"]) { RedirectStandardOutput = true })!;
        string? display = xvfb.StandardOutput.ReadLine();
        if (display is null) throw new InvalidOperationException("Xvfb did not start (its messages are in the test's output)");
        return new WineSession(Path.Combine(output, "vkdiff.exe"), xvfb, ":" + display.Trim());
    }

    /// <summary>A path as the Windows build sees it: wine maps the host's / to drive Z:.</summary>
    public static string WindowsPath(string unixPath) => "Z:" + unixPath.Replace('/', '\\');

    public VkdiffWorker StartVkdiff(params string[] arguments) => VkdiffWorker.StartCommand(environment, ["wine", Executable], arguments);

    public (int ExitCode, string Output, string Error) RunVkdiff(params string[] arguments)
    {
        using VkdiffWorker worker = StartVkdiff(arguments);
        return worker.WaitForExit();
    }

    public static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(directory => Path.Combine(directory, program)).FirstOrDefault(File.Exists);

    private static (int ExitCode, string Output) Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        Task<string> error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output + error.Result);
    }

    public void Dispose()
    {
        xvfb.Kill();
        xvfb.WaitForExit();
        xvfb.Dispose();
        Work.Dispose();
    }
}
