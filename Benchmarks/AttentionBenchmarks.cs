using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Benchmarks;

/// <summary>
/// Fused vs unfused attention (head dim 64, 1 batch × 4 heads, bidirectional), forward and
/// forward+backward, at T = 256 and 2048: wall time of one submitted, recorded pass on the default device
/// (VKDIFF_DEVICE selects another). Passes take 10 ms to seconds, so a few monitored iterations suffice.
/// GPU-timestamp figures and memory: <see cref="AttentionBenchmark.Run"/> (docs/attention.md).
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 3)]
public class AttentionBenchmarks
{
    private GpuContext? context;
    private AttentionWorkload? workload;
    private CommandList? commands;

    [Params(256, 2048)]
    public int SequenceLength { get; set; }

    [Params(AttentionImplementation.Fused, AttentionImplementation.Unfused)]
    public AttentionImplementation Implementation { get; set; }

    [Params(false, true)]
    public bool Backward { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        context = GpuContext.Create();
        workload = new AttentionWorkload(context, batchCount: 1, SequenceLength, headCount: 4, headDim: 64, causal: false);
        commands = context.CreateCommandList();
        workload.Record(commands, Implementation, Backward);
        commands.End();
        context.Run(commands);
    }

    [Benchmark]
    public void Pass() => context!.Run(commands!);

    [GlobalCleanup]
    public void Cleanup()
    {
        commands?.Dispose();
        workload?.Dispose();
        context?.Dispose();
    }
}
