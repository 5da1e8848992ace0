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
}
