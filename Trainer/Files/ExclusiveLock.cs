using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Files;

/// <summary>
/// An exclusive lock on a lock file, held while this object lives: .NET opens the file with FileShare.None, which
/// on Linux takes flock(LOCK_EX), so a second process (or a second open in this one) is refused, and the lock
/// goes away with the process however it ends, kill -9 included: a crashed holder never leaves a stale lock. The file
/// itself stays; only the lock matters. Processes on other machines see it where the shared file system forwards
/// flock (NFS does; Lustre when mounted with -o flock).
/// </summary>
public sealed class ExclusiveLock : IDisposable
{
    // What a taken lock raises: errno EWOULDBLOCK from flock on Linux (11) and macOS (35), ERROR_SHARING_VIOLATION on
    // Windows. Any other error (a read-only file system, a full disk) propagates as the file-system error it is.
    private static readonly int[] LockConflicts = [11, 35, unchecked((int)0x80070020)];
    private static readonly TimeSpan RetryInterval = TimeSpan.FromMilliseconds(10);

    private readonly FileStream file;

    private ExclusiveLock(FileStream file) => this.file = file;

    /// <summary>Takes the lock or refuses at once (never waits), naming what is busy.</summary>
    public static ExclusiveLock Acquire(string lockPath, string what) =>
        TryAcquire(lockPath) ?? throw new VkDiffusionException(
            $"{what} is in use by another vkdiff process (locked: {lockPath}); wait for it to finish or stop it first.", ExitCodes.InvalidInput);

    /// <summary>Takes the lock (creating the file), or returns null at once if another holder has it.</summary>
    public static ExclusiveLock? TryAcquire(string lockPath)
    {
        try
        {
            return new ExclusiveLock(new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
        }
        catch (IOException error) when (LockConflicts.Contains(error.HResult))
        {
            return null;
        }
    }

    /// <summary>Waits for the lock; for locks whose holders keep them only for a short write.</summary>
    public static ExclusiveLock Wait(string lockPath)
    {
        while (true)
        {
            if (TryAcquire(lockPath) is { } held) return held;
            Thread.Sleep(RetryInterval);
        }
    }

    /// <summary>Whether another holder has the lock now; probing takes the lock for an instant.</summary>
    public static bool IsHeld(string lockPath)
    {
        if (!File.Exists(lockPath)) return false;
        using ExclusiveLock? probe = TryAcquire(lockPath);
        return probe is null;
    }

    public void Dispose() => file.Dispose();
}
