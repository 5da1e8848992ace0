using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace VkDiffusion.Cli;

/// <summary>
/// vkdiff started again as a child process: the same host and program and the same environment (driver selection
/// included), plus any variables given, for work that a driver may crash or hang (building pipelines, running checks,
/// timing a candidate kernel setting) without taking this process with it.
/// </summary>
internal static class VkdiffProcess
{
    /// <summary>
    /// A start description for `vkdiff ARGUMENTS`: `dotnet vkdiff.dll ARGUMENTS` when this process runs under the dotnet
    /// host, else the executable itself (an apphost or a self-contained single file). Input, output and errors are redirected.
    /// </summary>
    [UnconditionalSuppressMessage("SingleFile", "IL3000",
        Justification = "In a single-file app Location is empty, and then the executable itself is what must be started (no program argument).")]
    public static ProcessStartInfo StartInfo(IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        string host = Environment.ProcessPath ?? throw new InvalidOperationException("the path of this process is unknown");
        var start = new ProcessStartInfo(host)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // This assembly, not the entry one: tests run commands inside the test host.
        string program = typeof(VkdiffProcess).Assembly.Location;
        bool underDotnetHost = Path.GetFileNameWithoutExtension(host).Equals("dotnet", StringComparison.OrdinalIgnoreCase);
        if (underDotnetHost && program.Length > 0) start.ArgumentList.Add(program);
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        return start;
    }

    /// <summary>What a child that ran to its end (or to its deadline, when it was ended) wrote and returned.</summary>
    public sealed record Outcome(int ExitCode, string Output, string Errors, bool TimedOut);

    /// <summary>Runs `vkdiff ARGUMENTS` to its end, or ends it (and its children) at <paramref name="deadline"/>.</summary>
    public static Outcome Run(IEnumerable<string> arguments, TimeSpan deadline, IReadOnlyDictionary<string, string>? environment = null)
    {
        using Process child = Process.Start(StartInfo(arguments, environment))!;
        child.StandardInput.Close();
        Task<string> output = child.StandardOutput.ReadToEndAsync(), errors = child.StandardError.ReadToEndAsync();
        bool finished = child.WaitForExit(deadline);
        if (!finished) child.Kill(entireProcessTree: true);
        child.WaitForExit();
        return new Outcome(child.ExitCode, output.Result, errors.Result, TimedOut: !finished);
    }

    /// <summary>A child's exit code in words. On Linux a process killed by a signal reports 128 + the signal (SIGABRT 6 -> 134, SIGSEGV 11 -> 139).</summary>
    public static string DescribeExit(int exitCode) => exitCode switch
    {
        134 => "SIGABRT (exit code 134: the driver aborted)",
        137 => "SIGKILL (exit code 137)",
        139 => "SIGSEGV (exit code 139: the driver crashed)",
        _ => $"exit code {exitCode}",
    };
}
