using Silk.NET.Core.Native;
using Silk.NET.Vulkan;

namespace VkDiffusion.Runtime.Vulkan;

/// <summary>
/// What a device says about why it was lost, through VK_EXT_device_fault (enabled where the device offers it): the
/// driver's description and the faulting addresses. Most drivers do not offer it; then there is nothing to add.
/// </summary>
internal static unsafe class DeviceFaults
{
    public const string Extension = "VK_EXT_device_fault";

    /// <summary>" The device reports: ..." or "" when the device cannot say.</summary>
    public static string Describe(GpuContext context)
    {
        if (!context.DeviceFaultEnabled) return "";
        var function = (delegate* unmanaged<Device, DeviceFaultCountsEXT*, DeviceFaultInfoEXT*, Result>)
            context.Api.GetDeviceProcAddr(context.Device, "vkGetDeviceFaultInfoEXT").Handle;
        if (function == null) return "";
        var counts = new DeviceFaultCountsEXT { SType = StructureType.DeviceFaultCountsExt };
        if (function(context.Device, &counts, null) is not (Result.Success or Result.Incomplete)) return "";
        var addresses = new DeviceFaultAddressInfoEXT[Math.Max(1, counts.AddressInfoCount)];
        var vendors = new DeviceFaultVendorInfoEXT[Math.Max(1, counts.VendorInfoCount)];
        counts.VendorBinarySize = 0;
        var info = new DeviceFaultInfoEXT { SType = StructureType.DeviceFaultInfoExt };
        fixed (DeviceFaultAddressInfoEXT* addressPointer = addresses)
        fixed (DeviceFaultVendorInfoEXT* vendorPointer = vendors)
        {
            info.PAddressInfos = counts.AddressInfoCount > 0 ? addressPointer : null;
            info.PVendorInfos = counts.VendorInfoCount > 0 ? vendorPointer : null;
            if (function(context.Device, &counts, &info) is not (Result.Success or Result.Incomplete)) return "";
        }
        var parts = new List<string> { SilkMarshal.PtrToString((nint)info.Description) ?? "" };
        for (int index = 0; index < counts.AddressInfoCount; index++)
            parts.Add($"{addresses[index].AddressType} at 0x{addresses[index].ReportedAddress:x}");
        for (int index = 0; index < counts.VendorInfoCount; index++)
        {
            fixed (byte* description = vendors[index].Description)
                parts.Add($"{SilkMarshal.PtrToString((nint)description)} (code 0x{vendors[index].VendorFaultCode:x})");
        }
        string said = string.Join("; ", parts.Where(part => part.Length > 0));
        return said.Length == 0 ? "" : $" The device reports: {said}.";
    }
}
