using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Trainer.Experiments;

namespace VkDiffusion.Tests.Distributed;

public sealed class ExclusiveFileLockTests
{
    [Fact]
    public void A_held_lock_refuses_a_second_holder_until_it_is_released()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("run.lock");
        Assert.False(ExclusiveFileLock.IsHeld(path));
        using (ExclusiveFileLock? first = ExclusiveFileLock.TryAcquire(path))
        {
            Assert.NotNull(first);
            Assert.Null(ExclusiveFileLock.TryAcquire(path));
            Assert.True(ExclusiveFileLock.IsHeld(path));
        }
        Assert.False(ExclusiveFileLock.IsHeld(path));
        using ExclusiveFileLock second = ExclusiveFileLock.Acquire(path);
    }
}
