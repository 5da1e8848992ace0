using System.Diagnostics;
using Silk.NET.Vulkan;
using VkDiffusion.Runtime.Distributed;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

public sealed class DeviceTests(GpuFixture fixture) : GpuTest(fixture)
{
    [Fact]
    public void The_test_device_reports_plausible_capabilities()
    {
        DeviceInfo info = Context.Info;
        Assert.False(string.IsNullOrWhiteSpace(info.Name));
        Assert.InRange(info.SubgroupSize, 1u, 128u);
        Assert.True(info.MaxStorageBufferRange >= 1 << 27, "Vulkan requires at least 128 MiB of binding range");
        Assert.True(info.SharedMemoryBytes >= 16384, "Vulkan requires at least 16 KiB of shared memory");
        Assert.Contains(info.Name, info.Banner);
        Assert.Contains($"subgroup {info.SubgroupSize}", info.Banner);
    }

    [Fact]
    public void Selection_by_index_and_name_and_unknown_names_fail_clearly()
    {
        using var instance = new VulkanInstance(enableValidation: false);
        var devices = DeviceSelector.Enumerate(instance);
        Assert.NotEmpty(devices);
        Assert.Equal(0, DeviceSelector.Select(devices, "0").Info.Index);
        string fragment = devices[0].Info.Name[..4].ToUpperInvariant();
        Assert.Contains(fragment, DeviceSelector.Select(devices, fragment).Info.Name, StringComparison.OrdinalIgnoreCase);
        var error = Assert.Throws<NoDeviceException>(() => DeviceSelector.Select(devices, "no-such-gpu-xyz"));
        Assert.Contains("vkdiff devices", error.Message);
        Assert.Throws<NoDeviceException>(() => DeviceSelector.Select(devices, "99"));
    }

    // mpirun / srun start one worker per GPU: the node-local rank takes the devices of the best kind in turn (the
    // discrete GPUs here, never the integrated one or the CPU), and a selector still wins.
    [Fact]
    public void Workers_launched_on_one_node_take_the_best_devices_in_turn()
    {
        (PhysicalDevice, DeviceInfo) Device(int index, string type, string name) => (default, Context.Info with { Index = index, DeviceType = type, Name = name });
        var devices = new[] { Device(0, "CPU", "llvmpipe"), Device(1, "discrete GPU", "gpu-a"), Device(2, "integrated GPU", "igpu"), Device(3, "discrete GPU", "gpu-b") };
        Assert.Equal(["gpu-a", "gpu-b", "gpu-a", "gpu-b"], Enumerable.Range(0, 4).Select(rank => DeviceSelector.Select(devices, null, rank).Info.Name));
        Assert.Equal("igpu", DeviceSelector.Select(devices, "igpu", localRank: 1).Info.Name);

        Assert.Null(LauncherEnvironment.ReadLocalRank(_ => null));
        Assert.Equal(3, LauncherEnvironment.ReadLocalRank(name => name == "SLURM_LOCALID" ? "3" : null));
        Assert.Equal(1, LauncherEnvironment.ReadLocalRank(name => name switch { "OMPI_COMM_WORLD_LOCAL_RANK" => "1", "SLURM_LOCALID" => "0", _ => null }));
        Assert.Throws<InvalidInputException>(() => LauncherEnvironment.ReadLocalRank(name => name == "MPI_LOCALRANKID" ? "-1" : null));
    }

    [Fact]
    public void Every_kernel_compiled_into_the_build_is_listed()
    {
        Assert.Contains("fill", KernelCache.AvailableKernels);
        Assert.Contains("add", KernelCache.AvailableKernels);
        Assert.Contains("mul", KernelCache.AvailableKernels);
        var error = Assert.Throws<KeyNotFoundException>(() => Context.Kernels.Get("no_such_kernel"));
        Assert.Contains("fill", error.Message);
    }

    [Fact]
    public unsafe void The_validation_layer_is_really_on()
    {
        // Destroying a buffer handle that was never created is invalid API use the layer must report.
        var bogus = new Silk.NET.Vulkan.Buffer(0xdead0000);
        Context.Api.DestroyBuffer(Context.Device, bogus, null);
        var messages = Context.Validation!.Drain();
        Assert.NotEmpty(messages);
    }
}
