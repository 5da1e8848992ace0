using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Tests.Infrastructure;

/// <summary>
/// A device buffer whose data sits between two runs of guard words, so a test proves a kernel wrote
/// nothing outside the range it was given (reading back asserts the guards). The data starts as
/// <see cref="Poison"/> (a NaN bit pattern) unless initial values are given, so an overwriting kernel
/// that skips an element fails too. The data starts 256-byte aligned.
/// </summary>
public sealed class GuardedBuffer : IDisposable
{
    public const uint Poison = 0x7FBADBADu;
    public const uint Guard = 0x7FC0FFEEu;
    public const int GuardCount = 64;

    private readonly GpuContext context;
    private readonly GpuBuffer buffer;
    private readonly long count;

    private GuardedBuffer(GpuContext context, uint[] initialWords, string name)
    {
        this.context = context;
        count = initialWords.Length;
        buffer = context.Allocate<uint>(GuardCount + count + GuardCount, name);
        uint[] guards = Enumerable.Repeat(Guard, GuardCount).ToArray();
        context.Upload<uint>(buffer.Whole, [.. guards, .. initialWords, .. guards]);
        Data = buffer.Elements<uint>(GuardCount, count);
    }

    /// <summary><paramref name="count"/> poisoned 4-byte elements between guard words.</summary>
    public GuardedBuffer(GpuContext context, long count, string name = "guarded")
        : this(context, Enumerable.Repeat(Poison, checked((int)count)).ToArray(), name)
    {
    }

    public static GuardedBuffer Poisoned(GpuContext context, int count) => new(context, count);

    public static GuardedBuffer WithFloats(GpuContext context, float[] initial) =>
        new(context, initial.Select(BitConverter.SingleToUInt32Bits).ToArray(), "guarded");

    /// <summary>The range a kernel may use.</summary>
    public BufferSlice Data { get; }

    public float[] ReadFloats() => ReadWords().Select(BitConverter.UInt32BitsToSingle).ToArray();

    /// <summary>The data words, after asserting every guard word is intact.</summary>
    public uint[] ReadWords()
    {
        uint[] all = context.Download<uint>(buffer);
        for (long i = 0; i < all.Length; i++)
        {
            bool inData = i >= GuardCount && i < GuardCount + count;
            if (!inData && all[i] != Guard)
                Assert.Fail($"{buffer.Name}: guard word {(i < GuardCount ? i - GuardCount : i - GuardCount - count)} relative to the data was overwritten with 0x{all[i]:X8}");
        }
        return all[GuardCount..(int)(GuardCount + count)];
    }

    public void AssertGuardsIntact() => ReadWords();

    public void Dispose() => buffer.Dispose();
}
