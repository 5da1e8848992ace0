using Silk.NET.Vulkan;

namespace VkDiffusion.Runtime.Vulkan;

/// <summary>Lists the physical devices and picks one by --device / VKDIFF_DEVICE or by preference.</summary>
public static class DeviceSelector
{
    public const string EnvironmentVariable = "VKDIFF_DEVICE";

    public static unsafe IReadOnlyList<(PhysicalDevice Device, DeviceInfo Info)> Enumerate(VulkanInstance instance)
    {
        uint count = 0;
        VulkanResult.Check(instance.Api.EnumeratePhysicalDevices(instance.Handle, &count, null), "vkEnumeratePhysicalDevices");
        var devices = new PhysicalDevice[count];
        fixed (PhysicalDevice* pointer = devices)
            VulkanResult.Check(instance.Api.EnumeratePhysicalDevices(instance.Handle, &count, pointer), "vkEnumeratePhysicalDevices");
        return devices.Select((device, index) => (device, DeviceInfo.Query(instance.Api, instance.Handle, device, index))).ToList();
    }

    /// <summary>
    /// Picks a device: <paramref name="selector"/> (or VKDIFF_DEVICE) is an index or a case-insensitive
    /// name substring; without one, a discrete GPU beats an integrated one, which beats a CPU device. A process that
    /// a launcher started as one of several on a node (mpirun, srun: <paramref name="localRank"/>, by default read from
    /// its environment) takes the devices of the best kind in turn, so each worker of a multi-GPU node gets its own.
    /// </summary>
    public static (PhysicalDevice Device, DeviceInfo Info) Select(
        IReadOnlyList<(PhysicalDevice Device, DeviceInfo Info)> devices, string? selector, int? localRank = null)
    {
        if (devices.Count == 0) throw VulkanInstance.NoDeviceError("the loader found no physical device");
        selector ??= Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (string.IsNullOrWhiteSpace(selector))
        {
            var preferred = devices.OrderBy(d => Preference(d.Info.DeviceType)).ThenBy(d => d.Info.Index).ToList();
            var bestKind = preferred.Where(d => d.Info.DeviceType == preferred[0].Info.DeviceType).ToList();
            localRank ??= Distributed.LauncherEnvironment.ReadLocalRank(Environment.GetEnvironmentVariable);
            return bestKind[(localRank ?? 0) % bestKind.Count];
        }

        string available = string.Join("; ", devices.Select(d => $"[{d.Info.Index}] {d.Info.Name}"));
        if (int.TryParse(selector, out int index))
        {
            if (index < 0 || index >= devices.Count)
                throw new NoDeviceException($"Device index {index} does not exist. Available: {available}. Run `vkdiff devices`.");
            return devices[index];
        }
        var matches = devices.Where(d => d.Info.Name.Contains(selector, StringComparison.OrdinalIgnoreCase)).ToList();
        if (matches.Count == 0)
            throw new NoDeviceException($"No Vulkan device name contains '{selector}'. Available: {available}. Run `vkdiff devices`.");
        return matches[0];
    }

    private static int Preference(string deviceType) => deviceType switch
    {
        "discrete GPU" => 0,
        "integrated GPU" => 1,
        "virtual GPU" => 2,
        "CPU" => 3,
        _ => 4,
    };
}
