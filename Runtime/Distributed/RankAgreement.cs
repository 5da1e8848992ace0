using System.Text;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Distributed;

/// <summary>An error every rank of a job raised together, after agreeing on it: rank 0 alone needs to report it.</summary>
public sealed class CollectiveFailure(string message, int exitCode) : VkDiffusionException(message, exitCode);

/// <summary>
/// Collective checks: every rank runs the same check, and when any rank fails, all of them stop with the same error
/// (naming the failing rank) instead of waiting forever in the next collective for the rank that left.
/// </summary>
public static class RankAgreement
{
    /// <summary>
    /// Runs <paramref name="check"/> on every rank. When it throws on any rank, every rank disposes what its own check
    /// returned and throws a <see cref="CollectiveFailure"/> with the exit code and message of the lowest failing rank.
    /// </summary>
    public static T Run<T>(IProcessGroup group, Func<T> check)
    {
        if (group.Size == 1) return check();
        T result = default!;
        VkDiffusionException? failure = null;
        try
        {
            result = check();
        }
        catch (VkDiffusionException error)
        {
            failure = error;
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            failure = new VkDiffusionException($"file-system error: {error.Message}", ExitCodes.FileSystem, error);
        }
        var exitCodes = new float[group.Size];
        exitCodes[group.Rank] = failure?.ExitCode ?? 0;
        group.AllReduceSum(exitCodes);
        int failedRank = Array.FindIndex(exitCodes, code => code != 0);
        if (failedRank < 0) return result;
        (result as IDisposable)?.Dispose();
        string message = BroadcastText(group, failure?.Message ?? "", failedRank);
        bool everyRankFailed = exitCodes.All(code => code != 0);
        throw new CollectiveFailure(everyRankFailed ? message : $"rank {failedRank}: {message}", (int)exitCodes[failedRank]);
    }

    /// <summary>
    /// Fails on every rank, with <paramref name="exitCode"/>, when some rank's <paramref name="digest"/> differs from
    /// rank 0's; <paramref name="describe"/> turns the first differing rank into the message.
    /// </summary>
    public static void RequireSame(IProcessGroup group, ReadOnlySpan<byte> digest, Func<int, string> describe, int exitCode)
    {
        if (group.Size == 1) return;
        byte[] rootDigest = digest.ToArray();
        group.Broadcast(rootDigest, root: 0);
        var differs = new float[group.Size];
        differs[group.Rank] = digest.SequenceEqual(rootDigest) ? 0 : 1;
        group.AllReduceSum(differs);
        int differingRank = Array.FindIndex(differs, flag => flag != 0);
        if (differingRank >= 0) throw new CollectiveFailure(describe(differingRank), exitCode);
    }

    /// <summary>True on every rank when <paramref name="mine"/> is true on any rank.</summary>
    public static bool Any(IProcessGroup group, bool mine)
    {
        if (group.Size == 1) return mine;
        Span<float> flag = [mine ? 1 : 0];
        group.AllReduceSum(flag);
        return flag[0] > 0;
    }

    private static string BroadcastText(IProcessGroup group, string text, int root)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        var length = BitConverter.GetBytes(bytes.Length);
        group.Broadcast(length, root);
        var received = new byte[BitConverter.ToInt32(length)];
        if (group.Rank == root) bytes.CopyTo(received, 0);
        group.Broadcast(received, root);
        return Encoding.UTF8.GetString(received);
    }
}
