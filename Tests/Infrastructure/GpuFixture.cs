using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Tests.Infrastructure;

/// <summary>
/// One device context for the whole suite, with the validation layer always on. The device is the one
/// VKDIFF_TEST_DEVICE names (index or name substring); without it the suite pins Mesa's lavapipe so
/// every machine, CI included, runs the same CPU device.
/// </summary>
public sealed class GpuFixture : IDisposable
{
    public const string LavapipeIcd = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json";

    static GpuFixture() => TestEnvironment.Configure();

    public GpuContext Context { get; } = GpuContext.Create(TestEnvironment.DeviceSelector, validation: true);

    public void Dispose() => Context.Dispose();
}

[CollectionDefinition(Name)]
public sealed class GpuCollection : ICollectionFixture<GpuFixture>
{
    public const string Name = "gpu";
}

/// <summary>
/// Base of every test that touches Vulkan: fails the test when the validation layer reported anything
/// while it ran.
/// </summary>
[Collection(GpuCollection.Name)]
public abstract class GpuTest : IDisposable
{
    protected GpuTest(GpuFixture fixture)
    {
        Context = fixture.Context;
        Context.Validation!.Drain();
    }

    protected GpuContext Context { get; }

    public void Dispose()
    {
        Context.WaitForSubmittedWork();
        var messages = Context.Validation!.Drain();
        Assert.True(messages.Count == 0, "validation layer reported:\n" + string.Join("\n", messages));
        GC.SuppressFinalize(this);
    }
}
