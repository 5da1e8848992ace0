using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Files;

/// <summary>Checks made on an output path before any long work, so a mistyped path fails in seconds, not after hours.</summary>
public static class OutputPath
{
    /// <summary>Refuses a directory path that names a file, or lies under one (the OS would say only "already exists").</summary>
    public static void RequireDirectory(string directory, string option)
    {
        for (string? path = Path.GetFullPath(directory); path is not null; path = Path.GetDirectoryName(path))
            if (File.Exists(path))
                throw new VkDiffusionException($"{option} {directory}: {path} is a file, not a directory.", ExitCodes.FileSystem);
    }

    /// <summary>Refuses a file path that names a directory or lies under a file.</summary>
    public static void RequireFile(string file, string option)
    {
        if (Directory.Exists(file)) throw new VkDiffusionException($"{option} {file} is a directory; give a file name.", ExitCodes.FileSystem);
        RequireDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!, option);
    }
}
