using System.Security.Cryptography;
using System.Text;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Distributed;
using VkDiffusion.Runtime.Graph;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Training;

/// <summary>
/// The ranks that train one run together (a plain process is the group of one). A step's global batch is the
/// config's grad_accum micro-batches of --batch sequences; rank r of N takes micro-batches r*M .. r*M+M-1 of it
/// (M = grad_accum / N), with the same batch index, and so the same data and random numbers, as one process would
/// give them. Gradients are summed across ranks between backward and the update (<see cref="DataParallelStep"/>),
/// so every rank applies the same update. Rank 0 alone writes the run directory.
/// </summary>
internal sealed class DataParallelRanks(IProcessGroup group)
{
    private DataParallelStep? step;

    /// <summary>Gradient buckets reduced per step (0 in a single process).</summary>
    public int BucketCount { get; private set; }

    public IProcessGroup Group => group;
    public int Size => group.Size;
    /// <summary>The rank that writes config, metrics, checkpoints and plots.</summary>
    public bool IsWriter => group.Rank == 0;

    /// <summary>This rank's micro-batches per step.</summary>
    public static int MicroBatchesPerRank(TrainingOptions options, int ranks) =>
        options.GradientAccumulation % ranks == 0
            ? options.GradientAccumulation / ranks
            : throw new InvalidInputException($"the global batch of {options.GradientAccumulation} micro-batches of {options.BatchSize} sequences " +
                $"(grad_accum x batch) cannot be split evenly over {ranks} ranks; run on a number of ranks that divides {options.GradientAccumulation}.");

    /// <summary>The index, within a step's global batch, of this rank's first micro-batch.</summary>
    public int FirstMicroBatch(TrainingOptions options) => group.Rank * MicroBatchesPerRank(options, group.Size);

    /// <summary>Runs a start check on every rank; a rank that fails stops them all (<see cref="RankAgreement.Run{T}"/>).</summary>
    public T Agree<T>(Func<T> check) => RankAgreement.Run(group, check);

    /// <summary>Stops every rank (exit 7) when a rank's config or data differ from rank 0's.</summary>
    public void RequireSameRun(TrainingOptions options, string datasetFingerprint)
    {
        byte[] digest = SHA256.HashData(Encoding.UTF8.GetBytes(options.ToJson() + "\n" + datasetFingerprint));
        RankAgreement.RequireSame(group, digest, rank => $"rank {rank} sees a different config or data than rank 0 " +
            "(the same command, the same --data contents and the same files on every node are needed).", ExitCodes.InvalidInput);
    }

    /// <summary>The training session; with several ranks its graph is cut into gradient buckets reduced across them.</summary>
    /// <param name="submitAhead">One process only: let a step be submitted before the previous one's loss is read (<see cref="SubmitAhead"/>).</param>
    public TransformerSession CreateTrainingSession(GpuContext context, TransformerGraph graph, int hostInputSlots, double? maxSubmitMilliseconds,
        bool submitAhead)
    {
        if (group.Size == 1)
            return new TransformerSession(context, graph, hostInputSlots: hostInputSlots, maxSubmitMilliseconds: maxSubmitMilliseconds, submitAhead: submitAhead);
        if (submitAhead) throw new ArgumentException("submit-ahead needs one process: the all-reduce runs on the host inside the step", nameof(submitAhead));
        GradientBuckets buckets = GradientBuckets.Insert(graph.Graph, graph.Parameters.Select(p => p.Gradient!).ToList(), BucketBytes());
        var session = new TransformerSession(context, graph, hostInputSlots: hostInputSlots, maxSubmitMilliseconds: maxSubmitMilliseconds,
            stageStarts: buckets.StageStarts);
        step = new DataParallelStep(session.Compiled, buckets, group);
        BucketCount = buckets.Buckets.Count;
        return session;
    }

    /// <summary>Names the gradient bucket size in MiB (decimals allowed); smaller buckets start all-reduces earlier, larger ones pay less latency.</summary>
    public const string BucketSizeVariable = "VKDIFF_BUCKET_MB";

    private static long BucketBytes()
    {
        string? text = Environment.GetEnvironmentVariable(BucketSizeVariable);
        if (text is null) return GradientBuckets.DefaultBucketBytes;
        return double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double mib) && mib > 0 && mib < 1 << 20
            ? Math.Max(4, (long)(mib * (1 << 20)))
            : throw new InvalidInputException($"{BucketSizeVariable} = '{text}' is not a positive size in MiB (e.g. 25 or 0.5).");
    }

    public CommunicationTotals? Communication => step?.Totals;

    /// <summary>Submits a training step (with several ranks, returns once the gradients are summed and the update submitted);
    /// returns its slot, by which its loss and norm are read.</summary>
    public int Submit(TransformerSession train)
    {
        if (step is null) return train.Submit();
        step.Submit();
        return train.Compiled.LastSubmittedSlot;
    }

    /// <summary>The step's loss over the global batch: each rank's loss is already scaled by 1/(global rows).</summary>
    public float SumLoss(float rankLoss)
    {
        Span<float> loss = [rankLoss];
        group.AllReduceSum(loss);
        return loss[0];
    }

    /// <summary>Whether to stop before the next step: true on every rank once any rank was asked to (SIGTERM reaches them at different steps).</summary>
    public bool StopRequested(CancellationToken cancel) => RankAgreement.Any(group, cancel.IsCancellationRequested);

    /// <summary>
    /// An error every rank raises at the same step from the same values (the summed loss, the norm of the summed gradients,
    /// rank 0's validation loss):
    /// with several ranks a <see cref="CollectiveFailure"/>, so rank 0 alone prints it and every rank ends with its exit code.
    /// </summary>
    public VkDiffusionException OnEveryRank(VkDiffusionException error) => group.Size > 1 ? new CollectiveFailure(error.Message, error.ExitCode) : error;

    /// <summary>Rank 0's <paramref name="value"/>, on every rank.</summary>
    public double FromWriter(double value)
    {
        Span<byte> bytes = stackalloc byte[sizeof(double)];
        BitConverter.TryWriteBytes(bytes, value);
        group.Broadcast(bytes, root: 0);
        return BitConverter.ToDouble(bytes);
    }

    /// <summary>Fails loudly on every rank when a rank's parameters are no longer bit-identical to rank 0's.</summary>
    public void RequireIdenticalParameters(TransformerSession train, long completedSteps)
    {
        if (group.Size == 1) return;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (_, values) in train.ReadParameters().OrderBy(entry => entry.Key, StringComparer.Ordinal))
            hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        RankAgreement.RequireSame(group, hash.GetHashAndReset(), rank => $"rank {rank}'s parameters differ from rank 0's after step {completedSteps}: " +
            "the ranks no longer train the same model (a device or MPI library that sums differently); the last checkpoint is intact.", ExitCodes.Failure);
    }
}
