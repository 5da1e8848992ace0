namespace VkDiffusion.Runtime.Vulkan;

/// <summary>
/// The subgroup size the cooperative-matrix kernels run at. They lay their subgroups out from the workgroup size
/// (workgroup = subgroups x subgroup size, gl_SubgroupID numbering the tiles), so the size must be known when the
/// pipeline is created. A device with one size needs nothing; a device that varies it (AMD RDNA: 32 or 64) gets its
/// reported default size, the one its cooperative-matrix shapes are listed at, required at pipeline creation with
/// full subgroups (VkPipelineShaderStageRequiredSubgroupSizeCreateInfo, REQUIRE_FULL_SUBGROUPS) where Vulkan 1.3's
/// subgroupSizeControl and computeFullSubgroups allow it; otherwise the kernels cannot run there.
/// </summary>
/// <param name="Size">The subgroup size the kernels are laid out for.</param>
/// <param name="Required">Whether pipelines must be created with Size required (the device varies its size).</param>
public readonly record struct CooperativeMatrixSubgroup(uint Size, bool Required)
{
    /// <summary>The plan for this device, or null with the reason when it varies its subgroup size and cannot fix it.</summary>
    public static CooperativeMatrixSubgroup? For(DeviceInfo device, out string whyNot)
    {
        whyNot = "";
        if (device.MinSubgroupSize == device.MaxSubgroupSize) return new CooperativeMatrixSubgroup(device.SubgroupSize, Required: false);
        if (device.ComputeSubgroupSizeControl) return new CooperativeMatrixSubgroup(device.SubgroupSize, Required: true);
        whyNot = $"{device.Name} varies its subgroup size ({device.MinSubgroupSize}-{device.MaxSubgroupSize}) and cannot fix it for compute " +
            "pipelines (no subgroupSizeControl with computeFullSubgroups)";
        return null;
    }
}
