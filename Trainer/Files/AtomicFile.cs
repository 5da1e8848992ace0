namespace VkDiffusion.Trainer.Files;

/// <summary>Replaces a file so that a crash leaves the old content or the new, never a torn mix.</summary>
public static class AtomicFile
{
    // Windows refuses to rename over a file that another handle has open (a reader of the old content, or a virus
    // scanner or indexer that opens every new file for a moment): ERROR_SHARING_VIOLATION or ERROR_ACCESS_DENIED,
    // where Linux and macOS replace the name and let the reader keep the old file. Such holders let go within
    // moments, so on Windows the rename is tried again for a while before the error is the user's.
    private static readonly TimeSpan WindowsRetryFor = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan WindowsRetryInterval = TimeSpan.FromMilliseconds(50);
    private const int SharingViolation = unchecked((int)0x80070020);

    public static void WriteAllText(string path, string content)
    {
        string temporary = path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write))
        using (var writer = new StreamWriter(file))
        {
            writer.Write(content);
            writer.Flush();
            file.Flush(flushToDisk: true);
        }
        Replace(temporary, path);
    }

    /// <summary>Renames the complete, flushed <paramref name="temporary"/> over <paramref name="path"/> (atomic within a file system).</summary>
    public static void Replace(string temporary, string path)
    {
        DateTime giveUpAt = DateTime.UtcNow + WindowsRetryFor;
        while (true)
        {
            try
            {
                File.Move(temporary, path, overwrite: true);
                return;
            }
            catch (Exception error) when (OperatingSystem.IsWindows() && DateTime.UtcNow < giveUpAt &&
                                          (error is UnauthorizedAccessException || error.HResult == SharingViolation))
            {
                Thread.Sleep(WindowsRetryInterval);
            }
        }
    }
}
