using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// The measured roof of a device: FMA throughput and copy bandwidth as shader code reaches them, and where the device
/// has usable cooperative matrices, the fp16 matrix-unit throughput (null otherwise).
/// </summary>
public sealed record DeviceRoofline(double Gflops, double GigabytesPerSecond, double? MatrixGflops = null)
{
    private const uint WorkgroupSize = 256;
    private const int FlopsPerRound = 128;

    /// <summary>
    /// Runs peak_fma and peak_copy. Sizes grow with the device: a CPU device gets a few million
    /// invocation-rounds and a 32 MiB copy, a GPU enough work to fill it (and a copy within its binding range).
    /// </summary>
    public static DeviceRoofline Measure(GpuContext context, bool quick = false)
    {
        bool cpu = context.Info.DeviceType == DeviceInfo.CpuDeviceType;
        int repetitions = quick ? 3 : 5;

        uint groups = cpu ? 64u : 4096u;
        uint iterations = cpu ? (quick ? 256u : 1024u) : 4096u;
        using GpuBuffer sink = context.Allocate<float>(groups * WorkgroupSize, "peak-fma-sink");
        Kernel fma = context.Kernels.Get("peak_fma", WorkgroupSize);
        double fmaMilliseconds = KernelTimer.MedianMilliseconds(context,
            commands => commands.Dispatch(fma, groups, 1, 1, iterations, Binding.Write(sink)), repetitions);
        double flops = (double)groups * WorkgroupSize * iterations * FlopsPerRound;

        long copyBytes = Math.Min(cpu ? 32L << 20 : 512L << 20, (long)context.Info.MaxStorageBufferRange / 2 / 16 * 16);
        using GpuBuffer source = context.Allocate<byte>(copyBytes, "peak-copy-source");
        using GpuBuffer destination = context.Allocate<byte>(copyBytes, "peak-copy-destination");
        context.Execute(commands => BasicKernels.Fill(commands, source.Whole, 1f));
        Kernel copy = context.Kernels.Get("peak_copy", WorkgroupSize);
        uint vectors = (uint)(copyBytes / 16);
        uint copyGroups = Math.Min(cpu ? 64u : 65535u, (vectors + WorkgroupSize - 1) / WorkgroupSize);
        double copyMilliseconds = KernelTimer.MedianMilliseconds(context,
            commands => commands.Dispatch(copy, copyGroups, 1, 1, vectors, Binding.Read(source), Binding.Write(destination)), repetitions);

        return new DeviceRoofline(flops / (fmaMilliseconds * 1e6), 2.0 * copyBytes / (copyMilliseconds * 1e6), MeasureMatrixUnits(context, quick, repetitions));
    }

    // peak_coopmat on the tile the matmul kernels use: 4 subgroups per workgroup, 4 accumulators per subgroup.
    private static double? MeasureMatrixUnits(GpuContext context, bool quick, int repetitions)
    {
        if (MatmulKernels.CooperativeMatrixTile(context, out _) is not { } tile) return null;
        var (m, n, k) = tile;
        const uint subgroupsPerGroup = 4, accumulators = 4;
        bool cpu = context.Info.DeviceType == DeviceInfo.CpuDeviceType;
        // An emulated device (lavapipe) runs ~1 GFLOP/s: a token amount of work there.
        uint groups = cpu ? 8u : 4096u;
        uint iterations = cpu ? (quick ? 8u : 32u) : 2048u;
        uint groupSize = subgroupsPerGroup * context.Info.SubgroupSize;
        using GpuBuffer sink = context.Allocate<float>(groups * subgroupsPerGroup * accumulators * m * n, "peak-coopmat-sink");
        Kernel kernel = context.Kernels.Get($"peak_coopmat_f16_{m}x{n}x{k}", groupSize);
        double milliseconds = KernelTimer.MedianMilliseconds(context,
            commands => commands.Dispatch(kernel, groups, 1, 1, iterations, Binding.Write(sink)), repetitions);
        double flops = (double)groups * subgroupsPerGroup * iterations * accumulators * 2.0 * m * n * k;
        return flops / (milliseconds * 1e6);
    }

    /// <summary>
    /// The best a kernel of this arithmetic intensity can reach: min(peak FLOP/s, intensity x bandwidth),
    /// as a fraction achieved. Memory-only kernels (no flops) compare with the bandwidth alone; kernels on the matrix
    /// units (<paramref name="matrixUnits"/>) with the matrix peak.
    /// </summary>
    public double RoofFraction(double flops, double bytes, double milliseconds, bool matrixUnits = false)
    {
        double seconds = milliseconds * 1e-3;
        if (flops <= 0) return bytes / seconds / (GigabytesPerSecond * 1e9);
        double attainable = (matrixUnits && MatrixGflops is { } matrix ? matrix : Gflops) * 1e9;
        if (bytes > 0) attainable = Math.Min(attainable, flops / bytes * GigabytesPerSecond * 1e9);
        return flops / seconds / attainable;
    }
}
