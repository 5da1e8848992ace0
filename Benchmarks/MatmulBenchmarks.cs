using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Benchmarks;

/// <summary>
/// Wall time of one submitted matmul (record once, submit and wait per invocation) at 512^3 and at the
/// 7M preset's layer shapes for 1024 rows (batch 4 x seq 256). The LM head (1024 x 128 -> 50304) is left
/// to `vkdiff bench kernels`: seconds per run on lavapipe would make BenchmarkDotNet's many iterations
/// take minutes. GFLOP/s = 2 M N K / time; the MatmulShape parameter names the shape.
/// </summary>
[Config(typeof(ShortInProcess))]
public class MatmulBenchmarks
{
    // In-process: the benchmark needs the Vulkan device, not a rebuilt copy of this project, and a few
    // iterations suffice for kernels whose run-to-run spread is small.
    private sealed class ShortInProcess : ManualConfig
    {
        public ShortInProcess() =>
            AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(2).WithIterationCount(5).WithToolchain(InProcessEmitToolchain.Instance));
    }

    private GpuContext? context;
    private PreparedCase? prepared;
    private CommandList? commands;

    public static IEnumerable<MatmulShape> Shapes =>
    [
        new("square512", 512, 512, 512),
        new("7M.qkv", 1024, 128, 384),
        new("7M.attn_out", 1024, 128, 128),
        new("7M.mlp_in", 1024, 128, 640),
        new("7M.mlp_out", 1024, 320, 128),
    ];

    [ParamsSource(nameof(Shapes))]
    public MatmulShape Shape { get; set; }

    [Params(MatmulBenchmarkCases.Layout.Forward, MatmulBenchmarkCases.Layout.BackwardInput, MatmulBenchmarkCases.Layout.BackwardWeight)]
    public MatmulBenchmarkCases.Layout Layout { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        context = GpuContext.Create();
        prepared = MatmulBenchmarkCases.Prepare(context, Layout, Shape);
        commands = context.CreateCommandList();
        prepared.Record(commands);
        commands.End();
        context.Run(commands); // pipeline compilation happens here, outside the measurement
    }

    [Benchmark]
    public void Matmul() => context!.Run(commands!);

    [GlobalCleanup]
    public void Cleanup()
    {
        commands?.Dispose();
        prepared?.Dispose();
        context?.Dispose();
    }
}
