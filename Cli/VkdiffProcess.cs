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

    /// <summary>
    /// What a child that ran to its end (or was ended) wrote and returned: TimedOut when it passed its deadline,
    /// OverMemory when its resident memory passed the cap.
    /// </summary>
    public sealed record Outcome(int ExitCode, string Output, string Errors, bool TimedOut, bool OverMemory = false);

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Runs `vkdiff ARGUMENTS` to its end, or ends it (and its children) at <paramref name="deadline"/> or when its
    /// resident memory passes <paramref name="memoryCapBytes"/> (a driver whose compiler grows without bound would
    /// otherwise take the machine's memory, and the kernel's OOM killer may pick another process first).
    /// </summary>
    public static Outcome Run(IEnumerable<string> arguments, TimeSpan deadline, IReadOnlyDictionary<string, string>? environment = null,
        long? memoryCapBytes = null)
    {
        using Process child = Process.Start(StartInfo(arguments, environment))!;
        child.StandardInput.Close();
        Task<string> output = child.StandardOutput.ReadToEndAsync(), errors = child.StandardError.ReadToEndAsync();
        var clock = Stopwatch.StartNew();
        bool timedOut = false, overMemory = false;
        while (!child.WaitForExit(PollInterval))
        {
            timedOut = clock.Elapsed > deadline;
            overMemory = !timedOut && memoryCapBytes is long cap && ResidentBytes(child) > cap;
            if (!timedOut && !overMemory) continue;
            End(child);
            break;
        }
        child.WaitForExit();
        return new Outcome(child.ExitCode, output.Result, errors.Result, timedOut, overMemory);
    }

    /// <summary>The child's resident memory now; 0 once it has exited.</summary>
    public static long ResidentBytes(Process child)
    {
        try
        {
            child.Refresh();
            return child.WorkingSet64;
        }
        catch (InvalidOperationException)
        {
            return 0; // it has just exited
        }
    }

    /// <summary>Ends the child and the processes it started; nothing when it has already exited.</summary>
    public static void End(Process child)
    {
        try { child.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { }
    }

    /// <summary>
    /// A child's exit code in words. On Linux a process killed by a signal reports 128 + the signal (SIGABRT 6 -> 134,
    /// SIGSEGV 11 -> 139); on Windows a crash reports its NTSTATUS (0xC0000005 for an access violation).
    /// </summary>
    public static string DescribeExit(int exitCode) => exitCode switch
    {
        134 => "SIGABRT (exit code 134: the driver aborted)",
        137 => "SIGKILL (exit code 137)",
        139 => "SIGSEGV (exit code 139: the driver crashed)",
        unchecked((int)0xC0000005) => "an access violation (exit code 0xC0000005: the driver crashed)",
        unchecked((int)0xC00000FD) => "a stack overflow (exit code 0xC00000FD)",
        unchecked((int)0xC0000409) or unchecked((int)0xC0000602) => $"a fail-fast abort (exit code 0x{exitCode:X8}: the process ended itself)",
        _ => $"exit code {exitCode}",
    };
}
