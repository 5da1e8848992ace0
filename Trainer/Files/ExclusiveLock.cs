using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Files;

/// <summary>
/// An exclusive lock on a lock file, held while this object lives: .NET opens the file with FileShare.None, which
/// on Linux takes flock(LOCK_EX), so a second process (or a second open in this one) is refused, and the lock
/// goes away with the process however it ends, kill -9 included: a crashed holder never leaves a stale lock. The file
/// itself stays; only the lock matters. Processes on other machines see it where the shared file system forwards
/// flock (NFS does; Lustre when mounted with -o flock). On Windows the sharing mode is the lock: a second open fails
/// with a sharing violation, and the handle closes with the process too.
/// </summary>
public sealed class ExclusiveLock : IDisposable
{
    // What a taken lock raises: errno EWOULDBLOCK from flock on Linux (11) and macOS (35), ERROR_SHARING_VIOLATION on
    // Windows. Any other error (a read-only file system, a full disk) propagates as the file-system error it is.
    private static readonly int[] LockConflicts = [11, 35, unchecked((int)0x80070020)];
    private static readonly TimeSpan RetryInterval = TimeSpan.FromMilliseconds(10);

    private readonly FileStream file;
    /// <summary>The file to unlink before the handle closes (see <see cref="AcquireRemovedOnRelease"/>); null: keep it.</summary>
    private readonly string? unlinkBeforeClose;

    private ExclusiveLock(FileStream file, string? unlinkBeforeClose)
    {
        this.file = file;
        this.unlinkBeforeClose = unlinkBeforeClose;
    }

    /// <summary>Takes the lock or refuses at once (never waits), naming what is busy.</summary>
    public static ExclusiveLock Acquire(string lockPath, string what) => TryAcquire(lockPath) ?? throw Busy(lockPath, what);

    /// <summary>
    /// As <see cref="Acquire"/>, for a lock file that must not outlive its holder (one beside a user's files). On Linux and
    /// macOS the file is unlinked while still locked, just before the descriptor closes, so no second holder can lock
    /// the old file in between (.NET's own DeleteOnClose unlocks first, then unlinks). Windows refuses to delete a
    /// file that any handle holds with FileShare.None, this process's own included (a sharing violation), so there the
    /// handle is opened with FileOptions.DeleteOnClose and the system removes the file as the lock goes.
    /// </summary>
    public static ExclusiveLock AcquireRemovedOnRelease(string lockPath, string what)
    {
        FileStream? file = Open(lockPath, OperatingSystem.IsWindows() ? FileOptions.DeleteOnClose : FileOptions.None);
        if (file is null) throw Busy(lockPath, what);
        return new ExclusiveLock(file, OperatingSystem.IsWindows() ? null : lockPath);
    }

    private static VkDiffusionException Busy(string lockPath, string what) => new(
        $"{what} is in use by another vkdiff process (locked: {lockPath}); wait for it to finish or stop it first.", ExitCodes.InvalidInput);

    /// <summary>Takes the lock (creating the file), or returns null at once if another holder has it.</summary>
    public static ExclusiveLock? TryAcquire(string lockPath) => Open(lockPath, FileOptions.None) is { } file ? new ExclusiveLock(file, null) : null;

    private static FileStream? Open(string lockPath, FileOptions options)
    {
        try
        {
            return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, bufferSize: 1, options);
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

    public void Dispose()
    {
        if (unlinkBeforeClose is not null) File.Delete(unlinkBeforeClose);
        file.Dispose();
    }
}
