using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;

namespace VkDiffusion.Cli;

/// <summary>How to start this vkdiff again as a child process: the same host and program, whichever way it was started.</summary>
public static class SelfInvocation
{
    /// <summary>
    /// A start description for `vkdiff ARGUMENTS`: `dotnet vkdiff.dll ARGUMENTS` when this process runs under the dotnet
    /// host, else the executable itself (an apphost or a self-contained single file). Output and errors are redirected.
    /// </summary>
    [UnconditionalSuppressMessage("SingleFile", "IL3000",
        Justification = "In a single-file app Location is empty, and then the executable itself is what must be started (no program argument).")]
    public static ProcessStartInfo Start(IEnumerable<string> arguments)
    {
        string host = Environment.ProcessPath ?? throw new InvalidOperationException("the path of this process is unknown");
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        string program = Assembly.GetEntryAssembly()?.Location ?? "";
        bool underDotnetHost = Path.GetFileNameWithoutExtension(host).Equals("dotnet", StringComparison.OrdinalIgnoreCase);
        if (underDotnetHost && program.Length > 0) start.ArgumentList.Add(program);
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        return start;
    }
}
