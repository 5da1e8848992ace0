using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Files;

/// <summary>
/// An exclusive lock on a lock file, held while this object lives: .NET opens the file with FileShare.None, which
/// on Linux takes flock(LOCK_EX), so a second process (or a second open in this one) is refused, and the lock
/// goes away with the process however it ends, kill -9 included. The file itself stays; only the lock matters.
/// </summary>
public sealed class ExclusiveLock : IDisposable
{
    // What a taken lock raises: errno EWOULDBLOCK from flock on Linux, ERROR_SHARING_VIOLATION on Windows. Any other
    // error (a read-only file system, a full disk) propagates as the file-system error it is.
    private const int WouldBlock = 11, SharingViolation = unchecked((int)0x80070020);

    private readonly FileStream file;

    private ExclusiveLock(FileStream file) => this.file = file;

    /// <summary>Takes the lock or refuses at once (never waits), naming what is busy.</summary>
    public static ExclusiveLock Acquire(string lockPath, string what)
    {
        try
        {
            return new ExclusiveLock(new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
        }
        catch (IOException error) when (error.HResult is WouldBlock or SharingViolation)
        {
            throw new VkDiffusionException($"{what} is in use by another vkdiff process (locked: {lockPath}); wait for it to finish or stop it first.",
                ExitCodes.InvalidInput, error);
        }
    }

    public void Dispose() => file.Dispose();
}
