using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Tuning;

/// <summary>
/// Applies `vkdiff tune`'s result for a device and shape to the kernel switches (<see cref="KernelSwitches"/>) for as
/// long as the returned scope lives, and says in one line which kernels a run gets: tuned (and when, and what), or the
/// defaults and why (no result for this shape, a stale or unreadable cache, or <see cref="Variable"/>=off).
/// </summary>
public static class TunedKernels
{
    /// <summary>off: ignore the tuning cache (the defaults and the environment's switches only).</summary>
    public const string Variable = "VKDIFF_TUNING";

    public static IDisposable Apply(DeviceInfo device, TuningShape shape, TextWriter log, string? cachePath = null)
    {
        var (settings, line) = Lookup(device, shape, cachePath);
        log.WriteLine(line);
        return KernelSwitches.UseTuned(settings);
    }

    /// <summary>The tuned settings that hold for this device and shape (none for the defaults), and the line that says so.</summary>
    /// <param name="cachePath">The device's cache file (default <see cref="TuningCache.PathFor"/>).</param>
    public static (IReadOnlyDictionary<string, string> Settings, string Line) Lookup(DeviceInfo device, TuningShape shape, string? cachePath = null)
    {
        var none = new Dictionary<string, string>();
        if (Environment.GetEnvironmentVariable(Variable)?.Trim().ToLowerInvariant() is "off" or "0")
            return (none, $"kernels: defaults ({Variable}=off)");
        string path = cachePath ?? TuningCache.PathFor(device);
        var loaded = TuningCache.Load(path, TuningIdentity.For(device));
        if (loaded.Ignored is string why)
            return (none, $"kernels: defaults (ignored the tuning cache {path}: {why}; `vkdiff tune` makes a new one)");
        if (loaded.Cache?.Find(shape) is not { } entry)
            return (none, $"kernels: defaults (no `vkdiff tune` result for this device at shape {shape.Bucket})");
        string when = entry.TunedAtUtc.ToString("yyyy-MM-dd");
        string partial = entry.Complete ? "" : $", interrupted after the {string.Join(", ", entry.FamiliesDone)} kernels";
        if (entry.Settings.Count == 0)
            return (none, $"kernels: defaults (`vkdiff tune` on {when} found nothing faster at this shape{partial})");
        string gain = entry.DefaultMilliseconds is double d && entry.TunedMilliseconds is double t && t > 0 ? $", {d / t:F2}x the defaults' step rate" : "";
        string overridden = string.Join(", ", entry.Settings.Keys.Where(k => !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(k))));
        string environment = overridden.Length > 0 ? $"; the environment's {overridden} win over the tuned values" : "";
        return (entry.Settings, $"kernels: tuned by `vkdiff tune` on {when} ({Tuner.Describe(entry.Settings)}{gain}{partial}){environment}");
    }
}
