namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// A kernel choice forced for work recorded on the current thread, over the device's default and the environment,
/// until the scope <see cref="Force"/> returns is disposed: the self-test, the benchmarks and the tests compare kernel
/// paths in one process.
/// </summary>
internal sealed class ThreadOverride<T> where T : struct
{
    private readonly ThreadLocal<T?> forced = new();

    /// <summary>The value forced on this thread, or null.</summary>
    public T? Value => forced.Value;

    /// <summary>Forces <paramref name="value"/> (null keeps what is forced now) until the result is disposed.</summary>
    public IDisposable Force(T? value)
    {
        var restore = new Restore(this, forced.Value);
        forced.Value = value ?? forced.Value;
        return restore;
    }

    private sealed class Restore(ThreadOverride<T> owner, T? previous) : IDisposable
    {
        public void Dispose() => owner.forced.Value = previous;
    }
}
