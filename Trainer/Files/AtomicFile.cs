namespace VkDiffusion.Trainer.Files;

/// <summary>Replaces a file (or a directory of files) so that a crash leaves the old content or the new, never a torn mix.</summary>
public static class AtomicFile
{
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
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            if (File.Exists(temporary)) File.Delete(temporary);
            throw;
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
