using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>Work one benchmark case records, and the buffers it owns.</summary>
public sealed class PreparedCase(Action<CommandList> record, params IDisposable[] resources) : IDisposable
{
    public Action<CommandList> Record { get; } = record;

    public void Dispose()
    {
        foreach (IDisposable resource in resources) resource.Dispose();
    }
}

/// <summary>
/// A named kernel benchmark: what it costs (flops, and the bytes it must move at least) and how to
/// allocate its inputs and record it. InQuick marks the cases `--quick` keeps; MatrixUnits the cases whose roof is
/// the matrix-unit peak; Supported (when given) says whether a device can run the case at all.
/// </summary>
public sealed record KernelBenchmarkCase(string Name, double Flops, double Bytes, Func<GpuContext, PreparedCase> Prepare, bool InQuick = false,
    Func<GpuContext, bool>? MatrixUnits = null, Func<GpuContext, bool>? Supported = null);

/// <summary>One measured case.</summary>
public sealed record KernelBenchmarkResult(string Name, double Milliseconds, double Gflops, double GigabytesPerSecond, double RoofFraction, int Repetitions);

/// <summary>
/// A registry of kernel benchmark cases, timed against the device's measured roofline. Kernel families
/// register their cases (see <see cref="MatmulBenchmarkCases"/>); `vkdiff bench kernels` runs them.
/// </summary>
public sealed class KernelBenchmark
{
    private readonly List<KernelBenchmarkCase> cases = [];

    public IReadOnlyList<KernelBenchmarkCase> Cases => cases;

    public KernelBenchmark Register(KernelBenchmarkCase benchmarkCase)
    {
        if (cases.Any(c => c.Name == benchmarkCase.Name)) throw new ArgumentException($"benchmark case '{benchmarkCase.Name}' is registered twice");
        cases.Add(benchmarkCase);
        return this;
    }

    /// <summary>
    /// Times every case (only the quick ones when <paramref name="quick"/>): one warm-up run, then
    /// enough repetitions to fill about <paramref name="secondsPerCase"/> (at least 3, at most 50);
    /// the median repetition counts. <paramref name="filter"/> (when given) keeps the cases whose name
    /// contains it. <paramref name="progress"/> sees each result as it comes.
    /// </summary>
    public List<KernelBenchmarkResult> Run(GpuContext context, DeviceRoofline roofline, bool quick, string? filter = null, double secondsPerCase = 0.5,
        Action<KernelBenchmarkResult>? progress = null)
    {
        var results = new List<KernelBenchmarkResult>();
        var selected = cases.Where(c => (!quick || c.InQuick) && (filter is null || c.Name.Contains(filter, StringComparison.OrdinalIgnoreCase))
            && (c.Supported is null || c.Supported(context)));
        foreach (KernelBenchmarkCase benchmarkCase in selected)
        {
            using PreparedCase prepared = benchmarkCase.Prepare(context);
            double probe = KernelTimer.MedianMilliseconds(context, prepared.Record, 1);
            int repetitions = (int)Math.Clamp(secondsPerCase * 1e3 / Math.Max(probe, 1e-3), 3, 50);
            double milliseconds = KernelTimer.MedianMilliseconds(context, prepared.Record, repetitions, warmUp: false);
            var result = new KernelBenchmarkResult(benchmarkCase.Name, milliseconds,
                benchmarkCase.Flops / (milliseconds * 1e6), benchmarkCase.Bytes / (milliseconds * 1e6),
                roofline.RoofFraction(benchmarkCase.Flops, benchmarkCase.Bytes, milliseconds, benchmarkCase.MatrixUnits?.Invoke(context) ?? false), repetitions);
            progress?.Invoke(result);
            results.Add(result);
        }
        return results;
    }
}
