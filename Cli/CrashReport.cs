using System.Globalization;

namespace VkDiffusion.Cli;

/// <summary>Writes the full trace of an unexpected error to a file, so the user sees one line and can still report everything.</summary>
public static class CrashReport
{
    /// <summary>Where reports go: VKDIFF_CRASH_DIR if set, else the system temp folder.</summary>
    public static string DefaultDirectory =>
        Environment.GetEnvironmentVariable("VKDIFF_CRASH_DIR") is { Length: > 0 } directory ? directory : Path.GetTempPath();

    /// <summary>Returns the report's path, or a note why none could be written (the report must never raise a second error).</summary>
    public static string Write(Exception error, string directory)
    {
        string stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        string path = Path.Combine(directory, $"vkdiff-crash-{stamp}-{Environment.ProcessId}.txt");
        try
        {
            Directory.CreateDirectory(directory);
            File.WriteAllText(path, $"vkdiff {typeof(CrashReport).Assembly.GetName().Version} crashed at {DateTime.UtcNow:O}\n" +
                $"command line: {Environment.CommandLine}\n\n{error}\n");
            return path;
        }
        catch (Exception reportError) when (reportError is IOException or UnauthorizedAccessException)
        {
            return $"nowhere: {path} could not be written ({reportError.Message})";
        }
    }
}
