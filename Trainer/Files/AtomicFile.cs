namespace VkDiffusion.Trainer.Files;

/// <summary>Replaces a file (or a directory of files) so that a crash leaves the old content or the new, never a torn mix.</summary>
public static class AtomicFile
{
    // Windows refuses to rename over a file that another handle has open (a reader of the old content, or a virus
    // scanner or indexer that opens every new file for a moment): ERROR_SHARING_VIOLATION or ERROR_ACCESS_DENIED,
    // where Linux and macOS replace the name and let the reader keep the old file. Such holders let go within
    // moments, so on Windows the rename is tried again for a while before the error is the user's.
    private static readonly TimeSpan WindowsRetryFor = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan WindowsRetryInterval = TimeSpan.FromMilliseconds(50);
    private const int SharingViolation = unchecked((int)0x80070020);

    public static void WriteAllText(string path, string content) => Write(path, file =>
    {
        using var writer = new StreamWriter(file, leaveOpen: true);
        writer.Write(content);
    });

    /// <summary>
    /// <paramref name="write"/> fills PATH.tmp, which is flushed to the disk and renamed over PATH; if it throws, the
    /// temporary file is removed and PATH is left as it was.
    /// </summary>
    public static void Write(string path, Action<Stream> write)
    {
        string temporary = path + ".tmp";
        try
        {
            using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(file);
                file.Flush(flushToDisk: true);
            }
            Replace(temporary, path);
        }
        catch
        {
            if (File.Exists(temporary)) File.Delete(temporary);
            throw;
        }
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

    /// <summary>
    /// <paramref name="fill"/> writes the files of a new directory DIR.tmp, which then takes the place of DIR (an old DIR
    /// is moved aside first and deleted after); if it throws, DIR.tmp is removed and DIR is left as it was.
    /// </summary>
    public static void WriteDirectory(string directory, Action<string> fill)
    {
        string fullPath = Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar);
        string temporary = fullPath + ".tmp", previous = fullPath + ".old";
        if (Directory.Exists(temporary)) Directory.Delete(temporary, recursive: true);
        Directory.CreateDirectory(temporary);
        try
        {
            fill(temporary);
        }
        catch
        {
            Directory.Delete(temporary, recursive: true);
            throw;
        }
        if (Directory.Exists(previous)) Directory.Delete(previous, recursive: true);
        bool replacing = Directory.Exists(fullPath);
        if (replacing) Directory.Move(fullPath, previous);
        Directory.Move(temporary, fullPath);
        if (replacing) Directory.Delete(previous, recursive: true);
    }
}
