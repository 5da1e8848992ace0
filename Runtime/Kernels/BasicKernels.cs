using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// Records fill, copy, elementwise add/multiply, scale and sum kernels on fp32 buffers. The elementwise ones go in
/// chunks where a buffer exceeds one binding (a GPT-2 embedding's gradient on a 128 MiB device); chunking changes no bit.
/// </summary>
public static class BasicKernels
{
    private const uint WorkgroupSize = 256;
    // Grid-stride kernels need no more groups than this to fill any device.
    private const uint MaxGroups = 4096;

    /// <summary>How many partial sums <see cref="Sum"/> needs in its scratch buffer.</summary>
    public const int SumPartialCount = 256;

    private readonly record struct CountPush(uint Count);
    private readonly record struct CountValuePush(uint Count, float Value);

    public static void Fill(CommandList commands, BufferSlice y, float value)
    {
        foreach (var (first, count) in Chunks(commands, FloatCount(y), "fill"))
            commands.Dispatch(Get(commands, "fill"), Groups(commands, count), 1, 1, new CountValuePush(count, value), Binding.Write(y.Elements<float>(first, count)));
    }

    /// <summary>Copies x into y (any 4-byte element type); lengths must match.</summary>
    public static void Copy(CommandList commands, BufferSlice x, BufferSlice y)
    {
        RequireSameLength(x, y, "copy");
        foreach (var (first, count) in Chunks(commands, FloatCount(x), "copy"))
            commands.Dispatch(Get(commands, "copy"), Groups(commands, count), 1, 1, new CountPush(count),
                Binding.Read(x.Elements<float>(first, count)), Binding.Write(y.Elements<float>(first, count)));
    }

    public static void Add(CommandList commands, BufferSlice a, BufferSlice b, BufferSlice y) => Binary(commands, "add", a, b, y);

    public static void Multiply(CommandList commands, BufferSlice a, BufferSlice b, BufferSlice y) => Binary(commands, "mul", a, b, y);

    public static void Scale(CommandList commands, BufferSlice x, BufferSlice y, float factor)
    {
        RequireSameLength(x, y, "scale");
        foreach (var (first, count) in Chunks(commands, FloatCount(x), "scale"))
            commands.Dispatch(Get(commands, "scale"), Groups(commands, count), 1, 1, new CountValuePush(count, factor),
                Binding.Read(x.Elements<float>(first, count)), Binding.Write(y.Elements<float>(first, count)));
    }

    /// <summary>
    /// total[0] = sum of x, in two deterministic passes: up to <see cref="SumPartialCount"/> workgroup
    /// partial sums into <paramref name="partials"/>, then one workgroup over those.
    /// </summary>
    public static void Sum(CommandList commands, BufferSlice x, BufferSlice partials, BufferSlice total)
    {
        uint count = FloatCount(x);
        uint groups = Math.Min((uint)SumPartialCount, Groups(count));
        BufferSlice used = partials.Elements<float>(0, groups);
        Kernel kernel = Get(commands, "reduce_sum");
        commands.Dispatch(kernel, groups, 1, 1, new CountPush(count), Binding.Read(x), Binding.Write(used));
        commands.Dispatch(kernel, 1, 1, 1, new CountPush(groups), Binding.Read(used), Binding.Write(total.Elements<float>(0, 1)));
    }

    private static void Binary(CommandList commands, string kernel, BufferSlice a, BufferSlice b, BufferSlice y)
    {
        RequireSameLength(a, b, kernel);
        RequireSameLength(a, y, kernel);
        foreach (var (first, count) in Chunks(commands, FloatCount(a), kernel))
            commands.Dispatch(Get(commands, kernel), Groups(commands, count), 1, 1, new CountPush(count),
                Binding.Read(a.Elements<float>(first, count)), Binding.Read(b.Elements<float>(first, count)), Binding.Write(y.Elements<float>(first, count)));
    }

    // Element runs of an elementwise op that each fit one binding.
    private static IEnumerable<(long First, uint Count)> Chunks(CommandList commands, uint count, string op) =>
        KernelShapes.BindingChunks(commands.Context.Info, count, op, sizeof(float)).Select(chunk => (chunk.First, (uint)chunk.Count));

    private static Kernel Get(CommandList commands, string name) => commands.Context.Kernels.Get(name, WorkgroupSize);

    private static uint Groups(CommandList commands, uint count) => KernelStyle.GridStrideGroups(commands.Context.Info, count, WorkgroupSize);

    private static uint Groups(uint count) => Math.Clamp((count + WorkgroupSize - 1) / WorkgroupSize, 1, MaxGroups);

    private static uint FloatCount(BufferSlice slice)
    {
        if (slice.Length % 4 != 0) throw new ArgumentException($"{slice} is not a whole number of 4-byte elements");
        if (slice.Length / 4 > uint.MaxValue) throw new ArgumentException($"{slice} holds more elements than a kernel can index");
        return (uint)(slice.Length / 4);
    }

    private static void RequireSameLength(BufferSlice x, BufferSlice y, string op)
    {
        if (x.Length != y.Length) throw new ArgumentException($"{op}: {x} and {y} differ in length");
    }
}
