using System.Diagnostics;

namespace VkDiffusion.Cli;

/// <summary>
/// vkdiff started again as a child process: the same host and assembly and the same environment (driver selection
/// included), for work that a driver may crash or hang (building pipelines, running checks) without taking this process
/// with it.
/// </summary>
internal static class VkdiffProcess
{
    public static ProcessStartInfo StartInfo(IEnumerable<string> arguments)
    {
        string host = Environment.ProcessPath ?? "dotnet";
        var start = new ProcessStartInfo(host)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // `dotnet vkdiff.dll` (as the tests and docs run it) takes the assembly as its first argument; the apphost does not.
        if (Path.GetFileNameWithoutExtension(host) == "dotnet") start.ArgumentList.Add(typeof(VkdiffProcess).Assembly.Location);
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        return start;
    }

    /// <summary>What a child that ran to its end (or to its deadline, when it was ended) wrote and returned.</summary>
    public sealed record Outcome(int ExitCode, string Output, string Errors, bool TimedOut);

    /// <summary>Runs `vkdiff ARGUMENTS` to its end, or ends it (and its children) at <paramref name="deadline"/>.</summary>
    public static Outcome Run(IEnumerable<string> arguments, TimeSpan deadline)
    {
        using Process child = Process.Start(StartInfo(arguments))!;
        child.StandardInput.Close();
        Task<string> output = child.StandardOutput.ReadToEndAsync(), errors = child.StandardError.ReadToEndAsync();
        bool finished = child.WaitForExit(deadline);
        if (!finished) child.Kill(entireProcessTree: true);
        child.WaitForExit();
        return new Outcome(child.ExitCode, output.Result, errors.Result, TimedOut: !finished);
    }
}
