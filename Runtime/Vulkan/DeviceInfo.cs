using System.Text;
using Silk.NET.Core.Native;
using Silk.NET.Vulkan;

namespace VkDiffusion.Runtime.Vulkan;

/// <summary>What a physical device is and can do: the fields of the one-line banner users paste into issues.</summary>
public sealed record DeviceInfo
{
    public const string CooperativeMatrixExtension = "VK_KHR_cooperative_matrix";

    public required int Index { get; init; }
    public required string Name { get; init; }
    public required string Vendor { get; init; }
    public required uint VendorId { get; init; }
    public required uint DeviceId { get; init; }
    public required string DeviceType { get; init; }
    public required string DriverName { get; init; }
    /// <summary>VkDriverId: which driver this is, whoever made the GPU (3 = Mesa's RADV, 13 = lavapipe, 10 = SwiftShader, ...); 0 where unknown.</summary>
    public uint DriverId { get; init; }
    public required string DriverInfo { get; init; }
    public required string DriverVersion { get; init; }
    public required uint RawDriverVersion { get; init; }
    public required string ApiVersion { get; init; }
    public required uint RawApiVersion { get; init; }
    public required uint SubgroupSize { get; init; }
    public required uint MinSubgroupSize { get; init; }
    public required uint MaxSubgroupSize { get; init; }
    public required string SubgroupOperations { get; init; }
    /// <summary>
    /// Subgroup shuffles (basic and shuffle operations, with compute among the supported stages): what the split-row
    /// attention kernels need to add a row's partial dot products across its lanes.
    /// </summary>
    public bool ComputeSubgroupShuffle { get; init; }
    public required uint SharedMemoryBytes { get; init; }
    public required ulong MaxStorageBufferRange { get; init; }
    public required uint MinStorageBufferOffsetAlignment { get; init; }
    public required uint MaxTexelBufferElements { get; init; }
    public required uint MinTexelBufferOffsetAlignment { get; init; }

    /// <summary>An offset alignment that suits a binding read either way (both limits are powers of two).</summary>
    public uint MinStorageOrTexelOffsetAlignment => Math.Max(MinStorageBufferOffsetAlignment, MinTexelBufferOffsetAlignment);
    public required uint MaxComputeWorkGroupInvocations { get; init; }
    public required uint MaxComputeWorkGroupCountX { get; init; }
    public required bool ShaderFloat16 { get; init; }
    public required bool StorageBuffer16Bit { get; init; }
    public required bool ShaderInt64 { get; init; }
    public required bool ShaderInt16 { get; init; }
    /// <summary>Subgroup operations on 16-bit types (what a cooperative-matrix emulation may lower to).</summary>
    public required bool SubgroupExtendedTypes { get; init; }
    /// <summary>Vulkan 1.3 maintenance4: needed by SPIR-V 1.6 kernels, whose workgroup size is a LocalSizeId.</summary>
    public required bool Maintenance4 { get; init; }
    /// <summary>The Vulkan memory model, which cooperative-matrix kernels declare (GL_KHR_memory_scope_semantics).</summary>
    public required bool VulkanMemoryModel { get; init; }
    public required bool CooperativeMatrix { get; init; }
    /// <summary>
    /// Vulkan 1.3 subgroupSizeControl and computeFullSubgroups, with compute among the requiredSubgroupSizeStages: a compute
    /// pipeline can be created at a required subgroup size with full subgroups.
    /// </summary>
    public bool ComputeSubgroupSizeControl { get; init; }
    /// <summary>
    /// Vulkan 1.3's maxComputeWorkgroupSubgroups: the most subgroups a workgroup of a pipeline created at a required subgroup
    /// size may hold (0 where not reported).
    /// </summary>
    public uint MaxComputeWorkgroupSubgroups { get; init; }
    /// <summary>The cooperative-matrix shapes the device lists (empty without VK_KHR_cooperative_matrix).</summary>
    public required IReadOnlyList<CooperativeMatrixShape> CooperativeMatrixShapes { get; init; }
    public required bool Timestamps { get; init; }
    public required float TimestampPeriodNs { get; init; }
    public required ulong DeviceLocalBytes { get; init; }
    public required string DeviceUuid { get; init; }
    /// <summary>
    /// Device-local memory the host can map and reads through its cache (one heap shared with the host: CPU
    /// implementations, integrated GPUs): tensors are mapped and uploads need no staging. A discrete GPU's
    /// host-visible device-local window (resizable BAR) is uncached for reads, so it does not count.
    /// </summary>
    public required bool MappableDeviceMemory { get; init; }
    /// <summary>Why the device cannot hold vkdiff's buffers (no device-local or no host-visible memory), or null when it can.</summary>
    public required string? MissingMemory { get; init; }

    public const string CpuDeviceType = "CPU";

    /// <summary>
    /// Lowers the shared memory per workgroup that vkdiff assumes (bytes, or with a K suffix KiB) below what the device
    /// reports, never above: kernels then size their staging as on a device with that much (Vulkan's minimum is 16 KiB),
    /// so 16 and 32 KiB devices are tested on one that has more.
    /// </summary>
    public const string SharedMemoryLimitVariable = "VKDIFF_SHARED_MEMORY_LIMIT";

    /// <summary>
    /// Lowers the largest storage binding that vkdiff assumes (bytes, or with a K or M suffix) below the device's
    /// maxStorageBufferRange, never above: every op then splits its tensors as on a device with that limit (lavapipe and
    /// many mobile GPUs have 128 MiB, Vulkan's minimum is 128 MiB), so a small model exercises the chunked paths that
    /// only a large vocabulary or width needs on a real device.
    /// </summary>
    public const string BindingLimitVariable = "VKDIFF_BINDING_LIMIT";

    /// <summary>One line with everything a bug report needs about the device.</summary>
    public string Banner =>
        $"[{Index}] {Name} | vendor {Vendor} (0x{VendorId:x4}) | {DeviceType} | driver {DriverName} {DriverVersion} ({DriverInfo}) | " +
        $"Vulkan {ApiVersion} | subgroup {SubgroupSize} ({MinSubgroupSize}-{MaxSubgroupSize}; {SubgroupOperations}) | " +
        $"shared {SharedMemoryBytes / 1024} KiB | max binding {MaxStorageBufferRange / (1024 * 1024)} MiB | " +
        $"fp16 {YesNo(ShaderFloat16)} | 16-bit storage {YesNo(StorageBuffer16Bit)} | int16 {YesNo(ShaderInt16)} | int64 {YesNo(ShaderInt64)} | " +
        $"coopmat {CooperativeMatrixSummary} | timestamps {YesNo(Timestamps)} | memory {DeviceLocalBytes / (1024 * 1024)} MiB";

    private static string YesNo(bool value) => value ? "yes" : "no";

    // "no", or the fp16 -> fp32 subgroup shapes the matmul kernels can use ("yes" when it lists only others).
    private string CooperativeMatrixSummary
    {
        get
        {
            if (!CooperativeMatrix) return "no";
            var shapes = CooperativeMatrixShapes.Where(s => s.IsSubgroupScope && s.IsFloat16WithFloat32Accumulator)
                .Select(s => $"{s.M}x{s.N}x{s.K}").Distinct().ToList();
            return shapes.Count == 0 ? "yes (no f16->f32 shape)" : "f16->f32 " + string.Join(",", shapes);
        }
    }

    internal static unsafe DeviceInfo Query(Vk vk, Instance instance, PhysicalDevice device, int index)
    {
        var driver = new PhysicalDeviceDriverProperties { SType = StructureType.PhysicalDeviceDriverProperties };
        var subgroup = new PhysicalDeviceSubgroupProperties { SType = StructureType.PhysicalDeviceSubgroupProperties, PNext = &driver };
        var sizeControl = new PhysicalDeviceSubgroupSizeControlProperties
        { SType = StructureType.PhysicalDeviceSubgroupSizeControlProperties, PNext = &subgroup };
        var ids = new PhysicalDeviceIDProperties { SType = StructureType.PhysicalDeviceIDProperties, PNext = &sizeControl };
        var properties2 = new PhysicalDeviceProperties2 { SType = StructureType.PhysicalDeviceProperties2, PNext = &ids };
        vk.GetPhysicalDeviceProperties2(device, &properties2);
        PhysicalDeviceProperties properties = properties2.Properties;

        // Vulkan 1.3's feature struct may only be chained on a 1.3 device.
        var features13 = new PhysicalDeviceVulkan13Features { SType = StructureType.PhysicalDeviceVulkan13Features };
        var features11 = new PhysicalDeviceVulkan11Features
        { SType = StructureType.PhysicalDeviceVulkan11Features, PNext = properties2.Properties.ApiVersion >= Vk.Version13 ? &features13 : null };
        var features12 = new PhysicalDeviceVulkan12Features { SType = StructureType.PhysicalDeviceVulkan12Features, PNext = &features11 };
        var features2 = new PhysicalDeviceFeatures2 { SType = StructureType.PhysicalDeviceFeatures2, PNext = &features12 };
        vk.GetPhysicalDeviceFeatures2(device, &features2);

        PhysicalDeviceMemoryProperties memory;
        vk.GetPhysicalDeviceMemoryProperties(device, &memory);
        ulong deviceLocal = 0;
        for (int heap = 0; heap < memory.MemoryHeapCount; heap++)
            if ((memory.MemoryHeaps[heap].Flags & MemoryHeapFlags.DeviceLocalBit) != 0)
                deviceLocal = Math.Max(deviceLocal, memory.MemoryHeaps[heap].Size);

        uint queueFamilyCount = 0;
        vk.GetPhysicalDeviceQueueFamilyProperties(device, &queueFamilyCount, null);
        var families = new QueueFamilyProperties[queueFamilyCount];
        fixed (QueueFamilyProperties* familyPointer = families)
            vk.GetPhysicalDeviceQueueFamilyProperties(device, &queueFamilyCount, familyPointer);
        int computeFamily = ChooseComputeQueueFamily(families);
        bool timestamps = computeFamily >= 0 && families[computeFamily].TimestampValidBits > 0 && properties.Limits.TimestampPeriod > 0;

        bool apiHasSizeControl = properties.ApiVersion >= Vk.Version13;
        bool cooperativeMatrix = HasExtension(vk, device, CooperativeMatrixExtension);
        uint apiVersion = properties.ApiVersion;
        return new DeviceInfo
        {
            Index = index,
            Name = SilkMarshal.PtrToString((nint)properties.DeviceName) ?? "unknown",
            Vendor = VendorName(properties.VendorID),
            VendorId = properties.VendorID,
            DeviceId = properties.DeviceID,
            DeviceType = properties.DeviceType switch
            {
                PhysicalDeviceType.DiscreteGpu => "discrete GPU",
                PhysicalDeviceType.IntegratedGpu => "integrated GPU",
                PhysicalDeviceType.VirtualGpu => "virtual GPU",
                PhysicalDeviceType.Cpu => CpuDeviceType,
                _ => "other",
            },
            DriverName = SilkMarshal.PtrToString((nint)driver.DriverName) ?? "unknown",
            DriverId = (uint)driver.DriverID,
            DriverInfo = SilkMarshal.PtrToString((nint)driver.DriverInfo) ?? "",
            DriverVersion = FormatDriverVersion(properties.VendorID, properties.DriverVersion),
            RawDriverVersion = properties.DriverVersion,
            ApiVersion = $"{apiVersion >> 22}.{(apiVersion >> 12) & 0x3ff}.{apiVersion & 0xfff}",
            RawApiVersion = apiVersion,
            SubgroupSize = subgroup.SubgroupSize,
            MinSubgroupSize = apiHasSizeControl && sizeControl.MinSubgroupSize > 0 ? sizeControl.MinSubgroupSize : subgroup.SubgroupSize,
            MaxSubgroupSize = apiHasSizeControl && sizeControl.MaxSubgroupSize > 0 ? sizeControl.MaxSubgroupSize : subgroup.SubgroupSize,
            SubgroupOperations = FormatSubgroupOperations(subgroup.SupportedOperations),
            ComputeSubgroupShuffle = (subgroup.SupportedStages & ShaderStageFlags.ComputeBit) != 0
                && (subgroup.SupportedOperations & (SubgroupFeatureFlags.BasicBit | SubgroupFeatureFlags.ShuffleBit))
                    == (SubgroupFeatureFlags.BasicBit | SubgroupFeatureFlags.ShuffleBit),
            SharedMemoryBytes = (uint)Math.Min(properties.Limits.MaxComputeSharedMemorySize, AssumedLimit(SharedMemoryLimitVariable)),
            MaxStorageBufferRange = Math.Min(properties.Limits.MaxStorageBufferRange, AssumedLimit(BindingLimitVariable)),
            MinStorageBufferOffsetAlignment = (uint)properties.Limits.MinStorageBufferOffsetAlignment,
            MaxTexelBufferElements = properties.Limits.MaxTexelBufferElements,
            MinTexelBufferOffsetAlignment = (uint)properties.Limits.MinTexelBufferOffsetAlignment,
            MaxComputeWorkGroupInvocations = properties.Limits.MaxComputeWorkGroupInvocations,
            MaxComputeWorkGroupCountX = properties.Limits.MaxComputeWorkGroupCount[0],
            ShaderFloat16 = features12.ShaderFloat16,
            StorageBuffer16Bit = features11.StorageBuffer16BitAccess,
            ShaderInt64 = features2.Features.ShaderInt64,
            ShaderInt16 = features2.Features.ShaderInt16,
            SubgroupExtendedTypes = features12.ShaderSubgroupExtendedTypes,
            Maintenance4 = features13.Maintenance4,
            VulkanMemoryModel = features12.VulkanMemoryModel,
            CooperativeMatrix = cooperativeMatrix,
            ComputeSubgroupSizeControl = apiHasSizeControl && features13.SubgroupSizeControl && features13.ComputeFullSubgroups
                && (sizeControl.RequiredSubgroupSizeStages & ShaderStageFlags.ComputeBit) != 0,
            MaxComputeWorkgroupSubgroups = apiHasSizeControl ? sizeControl.MaxComputeWorkgroupSubgroups : 0,
            CooperativeMatrixShapes = cooperativeMatrix ? CooperativeMatrixShape.Query(vk, instance, device) : [],
            Timestamps = timestamps,
            TimestampPeriodNs = properties.Limits.TimestampPeriod,
            DeviceLocalBytes = deviceLocal,
            DeviceUuid = Convert.ToHexString(new ReadOnlySpan<byte>(ids.DeviceUuid, 16)).ToLowerInvariant(),
            MappableDeviceMemory = HasMappableDeviceMemory(memory),
            MissingMemory = MissingMemoryTypes(memory),
        };
    }

    // The limit a test variable sets (bytes, or KiB or MiB with a K or M suffix), or no limit when it is unset.
    private static ulong AssumedLimit(string variable)
    {
        string? limit = Environment.GetEnvironmentVariable(variable)?.Trim();
        if (string.IsNullOrEmpty(limit)) return ulong.MaxValue;
        int shift = char.ToUpperInvariant(limit[^1]) switch { 'K' => 10, 'M' => 20, _ => 0 };
        if (!uint.TryParse(shift == 0 ? limit : limit[..^1], out uint value) || value == 0 || ((ulong)value << shift) > uint.MaxValue)
            throw new InvalidInputException($"{variable}={limit} is not a size; use bytes (16384), KiB (16K) or MiB (16M).");
        return (ulong)value << shift;
    }

    private static bool HasMappableDeviceMemory(PhysicalDeviceMemoryProperties memory)
    {
        const MemoryPropertyFlags mapped = MemoryPropertyFlags.DeviceLocalBit | MemoryPropertyFlags.HostVisibleBit
            | MemoryPropertyFlags.HostCoherentBit | MemoryPropertyFlags.HostCachedBit;
        for (int type = 0; type < memory.MemoryTypeCount; type++)
            if ((memory.MemoryTypes[type].PropertyFlags & mapped) == mapped && memory.MemoryHeaps[(int)memory.MemoryTypes[type].HeapIndex].Size > 0)
                return true;
        return false;
    }

    // vkdiff keeps tensors in device-local memory and stages through host-visible coherent memory: both must exist with a
    // heap that holds something (RADV's null hardware lists no memory at all).
    private static string? MissingMemoryTypes(PhysicalDeviceMemoryProperties memory)
    {
        bool deviceLocal = false, hostVisible = false;
        for (int type = 0; type < memory.MemoryTypeCount; type++)
        {
            MemoryPropertyFlags flags = memory.MemoryTypes[type].PropertyFlags;
            if (memory.MemoryHeaps[(int)memory.MemoryTypes[type].HeapIndex].Size == 0) continue;
            deviceLocal |= (flags & MemoryPropertyFlags.DeviceLocalBit) != 0;
            hostVisible |= (flags & (MemoryPropertyFlags.HostVisibleBit | MemoryPropertyFlags.HostCoherentBit))
                == (MemoryPropertyFlags.HostVisibleBit | MemoryPropertyFlags.HostCoherentBit);
        }
        if (deviceLocal && hostVisible) return null;
        string lacking = (deviceLocal, hostVisible) switch
        {
            (false, false) => "no memory type with a non-empty heap",
            (false, true) => "no device-local memory",
            _ => "no host-visible, host-coherent memory",
        };
        return $"it has {lacking} ({memory.MemoryTypeCount} memory types, {memory.MemoryHeapCount} heaps)";
    }

    internal static int ChooseComputeQueueFamily(QueueFamilyProperties[] families)
    {
        // A compute-only family is usually the async compute engine; any compute family works.
        int fallback = -1;
        for (int family = 0; family < families.Length; family++)
        {
            QueueFlags flags = families[family].QueueFlags;
            if ((flags & QueueFlags.ComputeBit) == 0) continue;
            if (fallback < 0) fallback = family;
        }
        return fallback;
    }

    internal static unsafe bool HasExtension(Vk vk, PhysicalDevice device, string name)
    {
        uint count = 0;
        vk.EnumerateDeviceExtensionProperties(device, (byte*)null, &count, null);
        var extensions = new ExtensionProperties[count];
        fixed (ExtensionProperties* pointer = extensions)
            vk.EnumerateDeviceExtensionProperties(device, (byte*)null, &count, pointer);
        foreach (ExtensionProperties extension in extensions)
            if (SilkMarshal.PtrToString((nint)extension.ExtensionName) == name) return true;
        return false;
    }

    private static string VendorName(uint vendorId) => vendorId switch
    {
        0x1002 => "AMD",
        0x10DE => "NVIDIA",
        0x8086 => "Intel",
        0x13B5 => "ARM",
        0x5143 => "Qualcomm",
        0x106B => "Apple",
        0x10005 => "Mesa",
        _ => "unknown",
    };

    private static string FormatDriverVersion(uint vendorId, uint version) => vendorId switch
    {
        0x10DE => $"{version >> 22}.{(version >> 14) & 0xff}.{(version >> 6) & 0xff}",
        _ => $"{version >> 22}.{(version >> 12) & 0x3ff}.{version & 0xfff}",
    };

    private static string FormatSubgroupOperations(SubgroupFeatureFlags flags)
    {
        var names = new StringBuilder();
        void Add(SubgroupFeatureFlags flag, string name)
        {
            if ((flags & flag) == 0) return;
            if (names.Length > 0) names.Append(',');
            names.Append(name);
        }
        Add(SubgroupFeatureFlags.BasicBit, "basic");
        Add(SubgroupFeatureFlags.VoteBit, "vote");
        Add(SubgroupFeatureFlags.ArithmeticBit, "arithmetic");
        Add(SubgroupFeatureFlags.BallotBit, "ballot");
        Add(SubgroupFeatureFlags.ShuffleBit, "shuffle");
        Add(SubgroupFeatureFlags.ShuffleRelativeBit, "shuffle-relative");
        Add(SubgroupFeatureFlags.ClusteredBit, "clustered");
        Add(SubgroupFeatureFlags.QuadBit, "quad");
        return names.Length == 0 ? "none" : names.ToString();
    }
}
