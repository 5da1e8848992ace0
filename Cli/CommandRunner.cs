using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Cli;

/// <summary>
/// Runs a verb and turns every error into one line on stderr and a documented exit code (docs/cli.md). An error
/// nobody anticipated still prints one line; its full trace goes to a crash report file the line names.
/// </summary>
public static class CommandRunner
{
    public static int Run(ICommand command)
    {
        try
        {
            return command.Run();
        }
        catch (VkDiffusionException error)
        {
            Console.Error.WriteLine($"vkdiff: {error.Message}");
            return error.ExitCode;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("vkdiff: interrupted.");
            return ExitCodes.Interrupted;
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            // .NET's file-system messages name the path and the operating system's reason (no space, read-only, denied).
            Console.Error.WriteLine($"vkdiff: file-system error: {error.Message}");
            return ExitCodes.FileSystem;
        }
        catch (Exception error)
        {
            Console.Error.WriteLine($"vkdiff: unexpected error: {error.GetType().Name}: {FirstLine(error.Message)} (the full report is in {CrashReport.Write(error)})");
            return ExitCodes.Failure;
        }
    }

    private static string FirstLine(string message) => message.Split('\n', 2)[0].TrimEnd();
}
