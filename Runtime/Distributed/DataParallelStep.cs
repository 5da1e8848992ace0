using System.Diagnostics;
using VkDiffusion.Runtime.Graph;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Distributed;

/// <summary>Where one rank's gradient all-reduces went, summed over the steps run so far.</summary>
/// <param name="HiddenSeconds">The part of <paramref name="AllReduceSeconds"/> spent while the device still ran backward.</param>
public sealed record CommunicationTotals(int Steps, double AllReduceSeconds, double HiddenSeconds, long BytesReduced);

/// <summary>
/// Runs one data-parallel training step on a graph cut by <see cref="GradientBuckets"/>: submits forward and
/// backward, then, bucket by bucket as the device finishes it, sums the gradients over all ranks in host-visible
/// memory, and submits the update once every bucket is summed. A bucket's all-reduce runs while the device works on
/// the next part of backward; only the buckets finished last wait on nothing.
/// </summary>
public sealed class DataParallelStep(CompiledGraph compiled, GradientBuckets buckets, IProcessGroup group)
{
    private int steps;
    private double allReduceSeconds, hiddenSeconds;
    private long bytesReduced;

    public CommunicationTotals Totals => new(steps, allReduceSeconds, hiddenSeconds, bytesReduced);

    /// <summary>Submits the step and returns once its update is submitted (the device may still run it).</summary>
    public unsafe void Submit()
    {
        for (int stage = 0; stage < buckets.UpdateStage; stage++) compiled.SubmitStage(stage);
        int lastBackwardStage = buckets.UpdateStage - 1;
        foreach (GradientBucket bucket in buckets.Buckets)
        {
            compiled.WaitStage(bucket.Stage);
            var values = new Span<float>((void*)GpuContext.HostPointer(bucket.Exchange.Slice), checked((int)(bucket.ByteLength / sizeof(float))));
            long start = Stopwatch.GetTimestamp();
            group.AllReduceSum(values);
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            allReduceSeconds += seconds;
            // Counted as hidden only when the device was still busy with backward once it finished: a conservative share.
            if (compiled.IsStageRunning(lastBackwardStage)) hiddenSeconds += seconds;
            bytesReduced += bucket.ByteLength;
        }
        compiled.SubmitStage(buckets.UpdateStage);
        steps++;
    }
}
