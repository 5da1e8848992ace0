using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

public sealed class MemoryTests(GpuFixture fixture) : GpuTest(fixture)
{
    [Fact]
    public void An_allocation_larger_than_the_device_is_a_clear_out_of_memory_error()
    {
        long tooMuch = (long)Context.Info.DeviceLocalBytes + (1L << 30);
        var error = Assert.Throws<OutOfDeviceMemoryException>(() => Context.Memory.Allocate(tooMuch, "too-big"));
        Assert.Equal(ExitCodes.OutOfDeviceMemory, error.ExitCode);
        Assert.Contains("--batch", error.Message);
        // The failed allocation leaves the allocator usable.
        using GpuBuffer small = Context.Upload<float>([1f, 2f], "after");
        Assert.Equal([1f, 2f], Context.Download<float>(small));
    }

    [Fact]
    public void Freed_ranges_are_reused_and_offsets_stay_aligned()
    {
        var first = Context.Memory.Allocate(1000, "first");
        var second = Context.Memory.Allocate(3000, "second");
        long firstOffset = first.Whole.AbsoluteOffset;
        first.Dispose();
        using GpuBuffer third = Context.Memory.Allocate(900, "third");
        Assert.Equal(firstOffset, third.Whole.AbsoluteOffset);
        Assert.Equal(0, second.Whole.AbsoluteOffset % Context.Memory.Alignment);
        second.Dispose();
    }
}
