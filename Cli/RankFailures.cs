using System.Runtime.ExceptionServices;
using VkDiffusion.Runtime.Distributed;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Cli;

/// <summary>
/// How a verb run as several MPI ranks ends on an error. A failure the ranks agreed on (<see cref="CollectiveFailure"/>,
/// or a stop they all took at the same step) ends every rank with its exit code, and rank 0 alone prints its line. Any
/// other error is one rank's own: that rank prints its line, naming itself, and ends the whole job with MPI_Abort, so
/// no rank waits forever in a collective for it.
/// </summary>
public static class RankFailures
{
    public static int Run(IProcessGroup group, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (CollectiveFailure failure)
        {
            if (group.Rank == 0) Console.Error.WriteLine($"vkdiff: {failure.Message}");
            return failure.ExitCode;
        }
        catch (OperationCanceledException)
        {
            if (group.Rank == 0) Console.Error.WriteLine("vkdiff: interrupted.");
            return ExitCodes.Interrupted;
        }
        catch (Exception error)
        {
            var line = new StringWriter();
            int exitCode = CommandRunner.Run(new Rethrow(error), line, CrashReport.DefaultDirectory);
            Console.Error.WriteLine($"vkdiff: rank {group.Rank}: {line.ToString().TrimEnd()["vkdiff: ".Length..]}");
            group.Abort(exitCode);
            return exitCode;
        }
    }

    /// <summary>Hands an error already caught to <see cref="CommandRunner"/>, so it is reported as any other verb's.</summary>
    private sealed class Rethrow(Exception error) : ICommand
    {
        public int Run()
        {
            ExceptionDispatchInfo.Capture(error).Throw();
            return ExitCodes.Failure;
        }
    }
}
