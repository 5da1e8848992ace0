using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Cli;

/// <summary>Runs a verb and turns the errors users can act on into one message and a documented exit code.</summary>
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
    }
}
