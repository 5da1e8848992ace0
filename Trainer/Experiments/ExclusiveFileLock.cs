namespace VkDiffusion.Trainer.Experiments;

/// <summary>
/// An exclusive advisory lock on a file, held until disposed. .NET takes it with flock on Unix (FileShare.None),
/// so the OS drops it when its process dies: a crashed holder never leaves a stale lock behind, and processes on
/// other machines see it where the shared file system forwards flock (NFS does; Lustre when mounted with -o flock).
/// </summary>
public sealed class ExclusiveFileLock : IDisposable
{
    // What .NET puts in HResult when another holder has the lock: flock's errno EWOULDBLOCK on Linux (11) and
    // macOS (35), ERROR_SHARING_VIOLATION on Windows.
    private static readonly int[] LockConflicts = [11, 35, unchecked((int)0x80070020)];
    private static readonly TimeSpan RetryInterval = TimeSpan.FromMilliseconds(10);

    private readonly FileStream stream;

    private ExclusiveFileLock(FileStream stream) => this.stream = stream;

    /// <summary>Takes the lock on <paramref name="path"/> (creating the file), or returns null at once if another holder has it.</summary>
    public static ExclusiveFileLock? TryAcquire(string path)
    {
        try
        {
            return new ExclusiveFileLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
        }
        catch (IOException error) when (LockConflicts.Contains(error.HResult))
        {
            return null;
        }
    }

    /// <summary>Waits for the lock on <paramref name="path"/>; holders keep it only for a short write.</summary>
    public static ExclusiveFileLock Acquire(string path)
    {
        while (true)
        {
            if (TryAcquire(path) is { } held) return held;
            Thread.Sleep(RetryInterval);
        }
    }

    /// <summary>Whether another holder has the lock now; probing takes the lock for an instant.</summary>
    public static bool IsHeld(string path)
    {
        if (!File.Exists(path)) return false;
        using ExclusiveFileLock? probe = TryAcquire(path);
        return probe is null;
    }

    public void Dispose() => stream.Dispose();
}
