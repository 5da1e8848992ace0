namespace VkDiffusion.Runtime.Distributed;

/// <summary>
/// The processes of one job, as a parallel launcher started them: all the communication multi-process
/// training and sweeps need. Every rank must make the same collective calls in the same order.
/// </summary>
public interface IProcessGroup : IDisposable
{
    int Rank { get; }
    int Size { get; }

    /// <summary>Replaces <paramref name="values"/> on every rank by the element-wise sum over all ranks.</summary>
    void AllReduceSum(Span<float> values);

    /// <summary>Replaces <paramref name="bytes"/> on every rank by the bytes of rank <paramref name="root"/>.</summary>
    void Broadcast(Span<byte> bytes, int root);

    /// <summary>Returns once every rank has called it.</summary>
    void Barrier();

    /// <summary>Ends every rank of the job with <paramref name="exitCode"/>; does not return.</summary>
    void Abort(int exitCode);
}

/// <summary>A process nobody launched in parallel: rank 0 of 1, where every collective leaves its data as it is.</summary>
public sealed class SingleProcessGroup : IProcessGroup
{
    public int Rank => 0;
    public int Size => 1;
    public void AllReduceSum(Span<float> values) { }
    public void Broadcast(Span<byte> bytes, int root) { }
    public void Barrier() { }
    public void Abort(int exitCode) => Environment.Exit(exitCode);
    public void Dispose() { }
}

public static class ProcessGroup
{
    /// <summary>
    /// The group this process belongs to: MPI when a launcher started it as one of several ranks, else a
    /// single process, which loads no MPI library at all.
    /// </summary>
    public static IProcessGroup Open(Func<string, string?> variable) =>
        LauncherEnvironment.Read(variable) is { Size: > 1 } launched ? MpiProcessGroup.Initialize(launched) : new SingleProcessGroup();

    public static IProcessGroup Open() => Open(Environment.GetEnvironmentVariable);
}
