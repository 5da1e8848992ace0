namespace VkDiffusion.Trainer.Files;

/// <summary>Replaces a small file so that a crash leaves the old content or the new, never a torn mix.</summary>
public static class AtomicFile
{
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
        File.Move(temporary, path, overwrite: true);
    }
}
