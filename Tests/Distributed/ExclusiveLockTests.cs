using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Trainer.Files;

namespace VkDiffusion.Tests.Distributed;

public sealed class ExclusiveLockTests
{
    [Fact]
    public void A_held_lock_refuses_a_second_holder_until_it_is_released()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("run.lock");
        Assert.False(ExclusiveLock.IsHeld(path));
        using (ExclusiveLock? first = ExclusiveLock.TryAcquire(path))
        {
            Assert.NotNull(first);
            Assert.Null(ExclusiveLock.TryAcquire(path));
            Assert.True(ExclusiveLock.IsHeld(path));
        }
        Assert.False(ExclusiveLock.IsHeld(path));
        using ExclusiveLock second = ExclusiveLock.Wait(path);
    }

    [Fact]
    public void A_lock_removed_on_release_is_held_while_it_lives_and_leaves_no_file()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File(".data.lock");
        using (ExclusiveLock.AcquireRemovedOnRelease(path, "--out data"))
        {
            Assert.True(ExclusiveLock.IsHeld(path));
            var busy = Assert.Throws<VkDiffusion.Runtime.Vulkan.VkDiffusionException>(() => ExclusiveLock.AcquireRemovedOnRelease(path, "--out data"));
            Assert.Contains("--out data is in use", busy.Message);
        }
        Assert.False(File.Exists(path));
        using ExclusiveLock again = ExclusiveLock.AcquireRemovedOnRelease(path, "--out data");
    }
}
