using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Tests.Infrastructure;

/// <summary>The test device's facts as another kind of device would report them, for the choices made from them.</summary>
public static class DeviceKinds
{
    /// <summary>A discrete GPU's type and driver (a proprietary one: no Mesa driver id).</summary>
    public static DeviceInfo Gpu(DeviceInfo device) => device with { DeviceType = "discrete GPU", DriverId = 0 };

    /// <summary>A CPU implementation that is not lavapipe (as SwiftShader reports itself: driver id 10).</summary>
    public static DeviceInfo OtherHostProcessor(DeviceInfo device) => device with { DeviceType = DeviceInfo.CpuDeviceType, DriverId = 10 };
}
