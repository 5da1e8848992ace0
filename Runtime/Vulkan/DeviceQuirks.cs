using System.Text.RegularExpressions;

namespace VkDiffusion.Runtime.Vulkan;

/// <summary>
/// A known driver bug and what vkdiff turns off on the devices it affects: the environment switches (docs/porting.md)
/// a user would set by hand, e.g. VKDIFF_MATMUL=tiled. A quirk matches a device when every criterion it gives does: the
/// PCI vendor id, the VkDriverId, the driver version in [MinDriverVersion, BelowDriverVersion) as `vkdiff devices` prints
/// it, and a regular expression over the device name. Reference: where the bug is documented or how it was found.
/// </summary>
public sealed record DeviceQuirk(string Description, string Reference, IReadOnlyDictionary<string, string> Switches,
    uint? VendorId = null, uint? DriverId = null, string? MinDriverVersion = null, string? BelowDriverVersion = null, string? DeviceNamePattern = null)
{
    public bool Matches(DeviceInfo device) =>
        (VendorId is null || VendorId == device.VendorId)
        && (DriverId is null || DriverId == device.DriverId)
        && (MinDriverVersion is null || Compare(device.DriverVersion, MinDriverVersion) >= 0)
        && (BelowDriverVersion is null || Compare(device.DriverVersion, BelowDriverVersion) < 0)
        && (DeviceNamePattern is null || Regex.IsMatch(device.Name, DeviceNamePattern, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant));

    /// <summary>The switches as a user would type them: VARIABLE=value, space-separated.</summary>
    public string SwitchText => string.Join(' ', Switches.Select(pair => $"{pair.Key}={pair.Value}"));

    // Dotted driver versions compared part by part (25.0.7 < 25.1.0); a missing part counts as 0.
    private static int Compare(string version, string bound)
    {
        int[] left = Parts(version), right = Parts(bound);
        for (int i = 0; i < Math.Max(left.Length, right.Length); i++)
        {
            int difference = (i < left.Length ? left[i] : 0).CompareTo(i < right.Length ? right[i] : 0);
            if (difference != 0) return difference;
        }
        return 0;
    }

    private static int[] Parts(string version) => [.. version.Split('.').Select(part => int.TryParse(part, out int value) ? value : 0)];
}

/// <summary>
/// The quirk table: every driver bug vkdiff works around by turning a path off, and the switch that does the same by hand.
/// Only bugs that are documented, or that a run on this project's conformance set showed, belong here (docs/porting.md,
/// "Adding a quirk"); none is known yet. `vkdiff devices` prints the quirks that apply to each device, and opening a
/// device applies them: each switch a user has not set is set for the process, with one line on stderr.
/// </summary>
public static class DeviceQuirks
{
    public static IReadOnlyList<DeviceQuirk> Table { get; } = [];

    /// <summary>The quirks of <paramref name="table"/> (default: <see cref="Table"/>) that match the device.</summary>
    public static IReadOnlyList<DeviceQuirk> For(DeviceInfo device, IReadOnlyList<DeviceQuirk>? table = null) =>
        [.. (table ?? Table).Where(quirk => quirk.Matches(device))];

    /// <summary>
    /// Sets, for this process, each switch of the quirks that match the device, unless the user set that variable (a user's
    /// choice wins, so a quirk can be ruled out by hand); tells <paramref name="log"/> what it set.
    /// </summary>
    public static IReadOnlyList<DeviceQuirk> Apply(DeviceInfo device, TextWriter log, IReadOnlyList<DeviceQuirk>? table = null)
    {
        IReadOnlyList<DeviceQuirk> applying = For(device, table);
        foreach (DeviceQuirk quirk in applying)
            foreach (var (variable, value) in quirk.Switches)
            {
                if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable(variable))) continue;
                Environment.SetEnvironmentVariable(variable, value);
                log.WriteLine($"vkdiff: {device.Name}: {quirk.Description}; set {variable}={value} (docs/porting.md, quirks)");
            }
        return applying;
    }
}
