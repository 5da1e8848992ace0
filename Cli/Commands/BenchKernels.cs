using System.Text.Json;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Cli.Commands;

/// <summary>`vkdiff bench kernels`: device banner, measured roofline, then every registered kernel case.</summary>
internal sealed class BenchKernels(string? device, bool json, bool quick, string? filter)
{
    /// <summary>Every case the command runs; kernel families add theirs here.</summary>
    internal static KernelBenchmark CreateBenchmark() => MemoryBoundBenchmarkCases.RegisterStandard(MatmulBenchmarkCases.RegisterStandard(new KernelBenchmark()));

    public int Run()
    {
        using GpuContext context = GpuContext.Create(device);
        DeviceInfo info = context.Info;
        if (!json)
        {
            Console.WriteLine(info.Banner);
            Console.WriteLine($"matmul path: {MatmulKernels.ChoosePath(info)} (force one with {MatmulKernels.PathVariable}=reference|register|texel|tiled|coopmat)");
        }
        DeviceRoofline roofline = DeviceRoofline.Measure(context, quick);
        if (!json)
        {
            Console.WriteLine($"roofline: {roofline.Gflops:F1} GFLOP/s (peak_fma), {roofline.GigabytesPerSecond:F1} GB/s (peak_copy)" +
                (roofline.MatrixGflops is { } matrix ? $", {matrix:F1} GFLOP/s fp16 matrix units (peak_coopmat: the roof of matmul_coopmat cases)" : ""));
            Console.WriteLine($"{"case",-36} {"ms",10} {"GFLOP/s",9} {"GB/s",8} {"roof",6}");
        }
        KernelBenchmark benchmark = CreateBenchmark();
        double secondsPerCase = quick ? 0.2 : 0.5;
        List<KernelBenchmarkResult> results = benchmark.Run(context, roofline, quick, filter, secondsPerCase, result =>
        {
            if (!json)
                Console.WriteLine($"{result.Name,-36} {result.Milliseconds,10:F3} {result.Gflops,9:F1} {result.GigabytesPerSecond,8:F1} {result.RoofFraction,6:P0}");
        });
        // Fused attention against the unfused path (QK^T, softmax, PV and their backward) on the same device.
        bool attention = filter is null || "attention".Contains(filter, StringComparison.OrdinalIgnoreCase);
        IReadOnlyList<AttentionBenchmarkResult> attentionResults = attention
            ? AttentionBenchmark.Run(context, quick ? [256] : AttentionBenchmark.DefaultSequenceLengths)
            : [];
        if (!json && attention)
        {
            Console.WriteLine($"{"attention (d 64, 4 heads)",-40} {"T",6} {"ms",10} {"GFLOP/s",9} {"extra memory",14}");
            foreach (AttentionBenchmarkResult result in attentionResults)
                Console.WriteLine($"{$"{result.Implementation} {result.Pass}",-40} {result.SequenceLength,6} {result.Milliseconds,10:F3} {result.Gflops,9:F1} {result.ExtraBytes,14:N0}");
        }
        if (json)
        {
            var report = new
            {
                device = info,
                banner = info.Banner,
                matmulPath = MatmulKernels.ChoosePath(info).ToString(),
                quick,
                roofline = new { gflops = roofline.Gflops, gigabytesPerSecond = roofline.GigabytesPerSecond, matrixGflops = roofline.MatrixGflops },
                cases = results.Select(r => new
                {
                    name = r.Name,
                    milliseconds = r.Milliseconds,
                    gflops = r.Gflops,
                    gigabytesPerSecond = r.GigabytesPerSecond,
                    roofFraction = r.RoofFraction,
                    repetitions = r.Repetitions,
                }),
                attention = attentionResults.Select(r => new
                {
                    implementation = r.Implementation.ToString(),
                    pass = r.Pass,
                    sequenceLength = r.SequenceLength,
                    headDim = r.HeadDim,
                    heads = r.HeadCount,
                    milliseconds = r.Milliseconds,
                    gflops = r.Gflops,
                    extraBytes = r.ExtraBytes,
                }),
            };
            Console.WriteLine(JsonSerializer.Serialize(report, JsonOptions.Report));
        }
        return ExitCodes.Success;
    }
}
