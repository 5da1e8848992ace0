namespace VkDiffusion.Runtime.Vulkan;

/// <summary>Where vkdiff keeps what it learns about a device between runs (pipeline caches, `vkdiff tune` results).</summary>
public static class CacheLocation
{
    /// <summary>VKDIFF_CACHE_DIR, else $XDG_CACHE_HOME/vkdiffusion, else ~/.cache/vkdiffusion.</summary>
    public static string Directory()
    {
        string? configured = Environment.GetEnvironmentVariable("VKDIFF_CACHE_DIR");
        if (!string.IsNullOrEmpty(configured)) return configured;
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string root = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "vkdiffusion");
    }
}
