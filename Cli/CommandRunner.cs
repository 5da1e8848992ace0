using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Cli;

/// <summary>
/// Runs a verb and turns every error into one line on stderr and a documented exit code (docs/cli.md). An error
/// nobody anticipated still prints one line; its full trace goes to a crash report file the line names.
/// </summary>
public static class CommandRunner
{
    public static int Run(ICommand command) => Run(command, Console.Error, CrashReport.DefaultDirectory);

    public static int Run(ICommand command, TextWriter errors, string crashReportDirectory)
    {
        try
        {
            return command.Run();
        }
        catch (DeviceLostException error) when (error.StillRunning)
        {
            errors.WriteLine($"vkdiff: {error.Message}");
            errors.Flush();
            Console.Out.Flush();
            // The driver's threads may still be running the hung submission; an orderly exit would unload the driver
            // under them (a crash after the message). End the process where it stands.
            ImmediateExit.Now(error.ExitCode);
            return error.ExitCode;
        }
        catch (VkDiffusionException error)
        {
            errors.WriteLine($"vkdiff: {error.Message}");
            return error.ExitCode;
        }
        catch (OperationCanceledException)
        {
            errors.WriteLine("vkdiff: interrupted.");
            return ExitCodes.Interrupted;
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            // .NET's file-system messages name the path and the operating system's reason (no space, read-only, denied).
            errors.WriteLine($"vkdiff: file-system error: {error.Message}");
            return ExitCodes.FileSystem;
        }
        catch (Exception error)
        {
            errors.WriteLine($"vkdiff: unexpected error: {error.GetType().Name}: {FirstLine(error.Message)} (the full report is in {CrashReport.Write(error, crashReportDirectory)})");
            return ExitCodes.Failure;
        }
    }

    private static string FirstLine(string message) => message.Split('\n', 2)[0].TrimEnd();
}
