using VkDiffusion.Runtime.Distributed;

namespace VkDiffusion.Tests.Distributed;

/// <summary>
/// N ranks as N threads of this process, with the collectives of <see cref="IProcessGroup"/> done through shared
/// memory: for testing collective logic without mpirun. Sums add the ranks' values in rank order on every rank.
/// </summary>
internal sealed class ThreadRanks
{
    private readonly Barrier barrier;
    private readonly float[][] floats;
    private byte[] broadcastBytes = [];

    private ThreadRanks(int size)
    {
        barrier = new Barrier(size);
        floats = new float[size][];
    }

    /// <summary>Runs <paramref name="body"/> on <paramref name="size"/> threads, one per rank, and returns what each returned or threw.</summary>
    public static (T? Result, Exception? Error)[] Run<T>(int size, Func<IProcessGroup, T> body)
    {
        var shared = new ThreadRanks(size);
        var outcomes = new (T?, Exception?)[size];
        var threads = Enumerable.Range(0, size).Select(rank => new Thread(() =>
        {
            try { outcomes[rank] = (body(new ThreadRank(shared, rank, size)), null); }
            catch (Exception error) { outcomes[rank] = (default, error); }
        })).ToList();
        threads.ForEach(thread => thread.Start());
        threads.ForEach(thread => Assert.True(thread.Join(TimeSpan.FromMinutes(1)), "a rank hangs in a collective"));
        return outcomes;
    }

    private sealed class ThreadRank(ThreadRanks shared, int rank, int size) : IProcessGroup
    {
        public int Rank => rank;
        public int Size => size;

        public void AllReduceSum(Span<float> values)
        {
            shared.floats[rank] = values.ToArray();
            shared.barrier.SignalAndWait();
            for (int i = 0; i < values.Length; i++)
            {
                float sum = 0;
                for (int other = 0; other < size; other++) sum += shared.floats[other][i];
                values[i] = sum;
            }
            shared.barrier.SignalAndWait();
        }

        public void Broadcast(Span<byte> bytes, int root)
        {
            if (rank == root) shared.broadcastBytes = bytes.ToArray();
            shared.barrier.SignalAndWait();
            shared.broadcastBytes.CopyTo(bytes);
            shared.barrier.SignalAndWait();
        }

        public void Barrier() => shared.barrier.SignalAndWait();
        public void Abort(int exitCode) => throw new InvalidOperationException($"rank {rank} aborted the job with {exitCode}");
        public void Dispose() { }
    }
}
