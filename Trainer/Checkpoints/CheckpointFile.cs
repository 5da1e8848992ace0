using VkDiffusion.Trainer.Files;

namespace VkDiffusion.Trainer.Checkpoints;

/// <summary>
/// Writes a checkpoint so that a crash at any moment leaves either the previous file or the new one, never a
/// torn file: the new content goes to PATH.tmp in the same directory, is flushed to the disk (fsync), and only
/// then renamed over PATH (rename is atomic within a file system). A stale PATH.tmp from a crashed write is
/// simply overwritten by the next write.
/// </summary>
public static class CheckpointFile
{
    public static string TemporaryPathFor(string path) => path + ".tmp";

    public static void Write(string path, IReadOnlyList<SafeTensorEntry> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        Write(path, tensors, metadata, beforeRename: null);

    /// <summary>Opens a checkpoint for reading; corrupt or truncated files raise InvalidInputException naming the file.</summary>
    public static SafeTensorsFile Open(string path) => SafeTensorsFile.Open(path);

    /// <summary>beforeRename runs after the temporary file is complete and durable; tests throw from it to simulate a crash.</summary>
    internal static void Write(string path, IReadOnlyList<SafeTensorEntry> tensors, IReadOnlyDictionary<string, string>? metadata, Action<string>? beforeRename)
    {
        string fullPath = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(fullPath)!);
        string temporaryPath = TemporaryPathFor(fullPath);
        try
        {
            using (var file = new FileStream(temporaryPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                SafeTensors.Write(file, tensors, metadata);
                file.Flush(flushToDisk: true);
            }
            beforeRename?.Invoke(temporaryPath);
            AtomicFile.Replace(temporaryPath, fullPath);
        }
        catch
        {
            try
            {
                File.Delete(temporaryPath);
            }
            catch (Exception cleanupError) when (cleanupError is IOException or UnauthorizedAccessException)
            {
                // The write already failed; a leftover PATH.tmp is harmless (the next write replaces it).
            }
            throw;
        }
    }
}
