using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>The measured roof of a device: FMA throughput and copy bandwidth as shader code reaches them.</summary>
public sealed record DeviceRoofline(double Gflops, double GigabytesPerSecond)
{
    private const uint WorkgroupSize = 256;
    private const int FlopsPerRound = 128;

    /// <summary>
    /// Runs peak_fma and peak_copy. Sizes grow with the device: a CPU device gets a few million
    /// invocation-rounds and a 32 MiB copy, a GPU enough work to fill it (and a copy within its binding range).
    /// </summary>
    public static DeviceRoofline Measure(GpuContext context, bool quick = false)
    {
        bool cpu = context.Info.IsCpu;
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

        return new DeviceRoofline(flops / (fmaMilliseconds * 1e6), 2.0 * copyBytes / (copyMilliseconds * 1e6));
    }

    /// <summary>
    /// The best a kernel of this arithmetic intensity can reach: min(peak FLOP/s, intensity x bandwidth),
    /// as a fraction achieved. Memory-only kernels (no flops) compare with the bandwidth alone.
    /// </summary>
    public double RoofFraction(double flops, double bytes, double milliseconds)
    {
        double seconds = milliseconds * 1e-3;
        if (flops <= 0) return bytes / seconds / (GigabytesPerSecond * 1e9);
        double attainable = Gflops * 1e9;
        if (bytes > 0) attainable = Math.Min(attainable, flops / bytes * GigabytesPerSecond * 1e9);
        return flops / seconds / attainable;
    }
}
