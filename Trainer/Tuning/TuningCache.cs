using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Files;

namespace VkDiffusion.Trainer.Tuning;

/// <summary>What a tuning result holds for: the device, its driver, this vkdiff and the SPIR-V of its kernels.</summary>
public sealed record TuningIdentity(string Device, uint VendorId, uint DeviceId, string Driver, string Vkdiff, string Shaders)
{
    public static TuningIdentity For(DeviceInfo device) => new(device.Name, device.VendorId, device.DeviceId,
        $"{device.DriverName} {device.DriverVersion} ({device.DriverInfo})", VkdiffVersion, KernelCache.ShaderSetHash);

    public static string VkdiffVersion { get; } =
        typeof(TuningIdentity).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>Why results measured under <paramref name="recorded"/> do not hold here, or null when they do.</summary>
    public string? Mismatch(TuningIdentity recorded) =>
        recorded.Device != Device || recorded.VendorId != VendorId || recorded.DeviceId != DeviceId ? $"it was tuned on {recorded.Device}, not {Device}"
        : recorded.Driver != Driver ? $"it was tuned under driver {recorded.Driver}; this is {Driver}"
        : recorded.Vkdiff != Vkdiff ? $"it was tuned by vkdiff {recorded.Vkdiff}; this is {Vkdiff}"
        : recorded.Shaders != Shaders ? $"it was tuned for kernels {recorded.Shaders}; this build's are {Shaders}"
        : null;
}

/// <summary>One candidate setting and what it measured: milliseconds per step, or why its child failed.</summary>
public sealed record TuningTrial(string Family, IReadOnlyDictionary<string, string> Settings, double? Milliseconds, string? Error);

/// <summary>
/// The tuner's result for one shape (<see cref="TuningShape.Bucket"/>): the switch settings that won, the families
/// finished so far (an interrupted tuning keeps them; <see cref="Complete"/> once every family and the final check
/// against the defaults are done), and every trial.
/// </summary>
public sealed record TuningEntry(string Shape, IReadOnlyDictionary<string, string> Settings, IReadOnlyList<string> FamiliesDone, bool Complete,
    double? DefaultMilliseconds, double? TunedMilliseconds, int StepsPerTrial, DateTime TunedAtUtc, IReadOnlyList<TuningTrial> Trials);

/// <summary>
/// `vkdiff tune`'s results on one device: a JSON file per device (by Vulkan device UUID) in the cache directory,
/// replaced atomically after every finished family, so an interrupted tuning leaves what it finished and never a torn
/// file. The file holds for one <see cref="TuningIdentity"/>; a file made under another driver, vkdiff or kernel build
/// is stale and ignored (and replaced by the next tuning), as is one that does not parse.
/// </summary>
public sealed record TuningCache(int Format, TuningIdentity Identity, IReadOnlyList<TuningEntry> Entries)
{
    public const int CurrentFormat = 1;

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public static string PathFor(DeviceInfo device) =>
        Path.Combine(CacheLocation.Directory(), $"tuning-{device.DeviceUuid}.json");

    /// <summary>The result for <paramref name="shape"/>, or null when there is none.</summary>
    public TuningEntry? Find(TuningShape shape) => Entries.FirstOrDefault(entry => entry.Shape == shape.Bucket);

    /// <summary>This cache with <paramref name="entry"/> in place of any earlier one for its shape.</summary>
    public TuningCache With(TuningEntry entry) => this with { Entries = [.. Entries.Where(e => e.Shape != entry.Shape), entry] };

    /// <summary>What a read of a device's cache file found: the cache when it holds here, else why not (no file is neither).</summary>
    public sealed record Loaded(TuningCache? Cache, string? Ignored);

    /// <summary>Reads <paramref name="path"/>: null cache and no reason when there is no file.</summary>
    public static Loaded Load(string path, TuningIdentity here)
    {
        if (!File.Exists(path)) return new Loaded(null, null);
        TuningCache? cache;
        try
        {
            cache = JsonSerializer.Deserialize<TuningCache>(File.ReadAllText(path), Json);
        }
        catch (Exception error) when (error is JsonException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return new Loaded(null, $"it cannot be read ({error.Message})");
        }
        if (cache?.Identity is null || cache.Entries is null || cache.Entries.Any(e => e?.Settings is null || e.Shape is null))
            return new Loaded(null, "it is not a tuning file (fields are missing)");
        if (cache.Format != CurrentFormat) return new Loaded(null, $"it has format {cache.Format}; this vkdiff reads {CurrentFormat}");
        return here.Mismatch(cache.Identity) is string why ? new Loaded(null, why) : new Loaded(cache, null);
    }

    /// <summary>The file's content.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public void Save(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        AtomicFile.WriteAllText(path, ToJson());
    }
}
