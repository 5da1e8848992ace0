using System.Diagnostics;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>One measured attention configuration.</summary>
/// <param name="Pass">"forward" or "forward+backward".</param>
/// <param name="Milliseconds">Best of the repetitions: the sum of the GPU timestamps of every dispatch
/// (wall clock of the submission where the device has no timestamps).</param>
/// <param name="Gflops">Nominal attention FLOPs (<see cref="AttentionWorkload.Flops"/>) per second, in 10⁹.</param>
/// <param name="ExtraBytes">Memory beyond inputs, output and gradients (<see cref="AttentionWorkload.ExtraBytes"/>).</param>
public sealed record AttentionBenchmarkResult(AttentionImplementation Implementation, string Pass, int BatchCount, int SequenceLength,
    int HeadCount, int HeadDim, bool Causal, double Milliseconds, double Gflops, long ExtraBytes);

/// <summary>
/// Fused vs unfused attention, forward and forward+backward, on one device: each pass is recorded once
/// with profiling, run once to warm up (pipeline compilation), then timed over several runs. The fused
/// cooperative-matrix kernels are measured too where the device offers them.
/// </summary>
public static class AttentionBenchmark
{
    public static IReadOnlyList<int> DefaultSequenceLengths { get; } = [256, 2048];

    public static IReadOnlyList<AttentionBenchmarkResult> Run(GpuContext context, IReadOnlyList<int>? sequenceLengths = null, int headDim = 64,
        int batchCount = 1, int headCount = 4, bool causal = false, int repetitions = 3)
    {
        var results = new List<AttentionBenchmarkResult>();
        foreach (int sequenceLength in sequenceLengths ?? DefaultSequenceLengths)
        {
            using var workload = new AttentionWorkload(context, batchCount, sequenceLength, headCount, headDim, causal);
            foreach (AttentionImplementation implementation in Implementations(context, headDim))
                foreach (bool backward in new[] { false, true })
                {
                    double milliseconds = Measure(context, workload, implementation, backward, repetitions);
                    results.Add(new AttentionBenchmarkResult(implementation, backward ? "forward+backward" : "forward", batchCount, sequenceLength,
                        headCount, headDim, causal, milliseconds, workload.Flops(backward) / (milliseconds * 1e6),
                        workload.ExtraBytes(implementation, backward)));
                }
        }
        return results;
    }

    private static IEnumerable<AttentionImplementation> Implementations(GpuContext context, int headDim) =>
        Enum.GetValues<AttentionImplementation>().Where(implementation => implementation != AttentionImplementation.FusedCooperativeMatrix
            || AttentionKernels.CooperativeMatrixBlocks(context, headDim, out _) is not null);

    private static double Measure(GpuContext context, AttentionWorkload workload, AttentionImplementation implementation, bool backward, int repetitions)
    {
        using CommandList commands = context.CreateCommandList(profile: true);
        workload.Record(commands, implementation, backward);
        commands.End();
        context.Run(commands);
        double best = double.PositiveInfinity;
        for (int run = 0; run < Math.Max(1, repetitions); run++)
        {
            long start = Stopwatch.GetTimestamp();
            context.Run(commands);
            double wall = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            best = Math.Min(best, commands.Profiling ? commands.ReadTimings().Sum(timing => timing.Milliseconds) : wall);
        }
        return best;
    }
}
