using Silk.NET.Core.Native;
using Silk.NET.Vulkan;

namespace VkDiffusion.Runtime.Vulkan;

/// <summary>
/// One entry of vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR: the device multiplies an M x K matrix of
/// <see cref="AType"/> by a K x N matrix of <see cref="BType"/> and adds a <see cref="CType"/> accumulator,
/// giving <see cref="ResultType"/>, within one <see cref="Scope"/> (a subgroup, for every shape we use).
/// </summary>
public sealed record CooperativeMatrixShape(uint M, uint N, uint K, string AType, string BType, string CType, string ResultType, string Scope)
{
    // VkComponentTypeKHR and VkScopeKHR values (the Vulkan registry's numbers).
    private const int ComponentFloat16 = 0, ComponentFloat32 = 1, ComponentFloat64 = 2, ComponentBFloat16 = 1000141000;
    private const int ScopeDevice = 1, ScopeWorkgroup = 2, ScopeSubgroup = 3, ScopeQueueFamily = 5;
    private const StructureType CooperativeMatrixProperties = (StructureType)1000506001;

    public bool IsSubgroupScope => Scope == "subgroup";

    /// <summary>fp16 A and B with an fp32 accumulator and result: what the fp16 matmul kernels need.</summary>
    public bool IsFloat16WithFloat32Accumulator => AType == "f16" && BType == "f16" && CType == "f32" && ResultType == "f32";

    public override string ToString() => $"{M}x{N}x{K} {AType}*{BType}+{CType}->{ResultType} ({Scope})";

    /// <summary>The shapes a device lists; empty where it lacks VK_KHR_cooperative_matrix.</summary>
    internal static unsafe IReadOnlyList<CooperativeMatrixShape> Query(Vk vk, Instance instance, PhysicalDevice device)
    {
        var query = (delegate* unmanaged<PhysicalDevice, uint*, CooperativeMatrixPropertiesKHR*, Result>)
            vk.GetInstanceProcAddr(instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR").Handle;
        if (query == null) return [];
        uint count = 0;
        if (query(device, &count, null) != Result.Success || count == 0) return [];
        var properties = new CooperativeMatrixPropertiesKHR[count];
        for (int i = 0; i < properties.Length; i++) properties[i].SType = CooperativeMatrixProperties;
        fixed (CooperativeMatrixPropertiesKHR* pointer = properties)
            if (query(device, &count, pointer) != Result.Success) return [];
        return properties.Take((int)count).Select(p => new CooperativeMatrixShape(p.MSize, p.NSize, p.KSize,
            ComponentName((int)p.AType), ComponentName((int)p.BType), ComponentName((int)p.CType), ComponentName((int)p.ResultType),
            ScopeName((int)p.Scope))).ToList();
    }

    private static string ComponentName(int type) => type switch
    {
        ComponentFloat16 => "f16",
        ComponentFloat32 => "f32",
        ComponentFloat64 => "f64",
        ComponentBFloat16 => "bf16",
        3 => "s8", 4 => "s16", 5 => "s32", 6 => "s64", 7 => "u8", 8 => "u16", 9 => "u32", 10 => "u64",
        _ => $"type{type}",
    };

    private static string ScopeName(int scope) => scope switch
    {
        ScopeDevice => "device",
        ScopeWorkgroup => "workgroup",
        ScopeSubgroup => "subgroup",
        ScopeQueueFamily => "queue family",
        _ => $"scope{scope}",
    };
}
