using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Tests.Infrastructure;

/// <summary>
/// An output buffer with guard words after its data: <see cref="Data"/> is what a kernel gets; reading it
/// back asserts the guard words are untouched, so a kernel that writes past its shape fails the test. The
/// data starts as <see cref="Poison"/> (a NaN bit pattern) unless initial values are given, so an
/// overwriting kernel that skips an element fails too.
/// </summary>
public sealed class GuardedBuffer : IDisposable
{
    public const uint Poison = 0x7FBADBADu;
    public const uint Guard = 0x7FC0FFEEu;
    public const int GuardCount = 64;

    private readonly GpuContext context;
    private readonly GpuBuffer buffer;
    private readonly int count;

    private GuardedBuffer(GpuContext context, uint[] initialWords)
    {
        this.context = context;
        count = initialWords.Length;
        buffer = context.Allocate<uint>(count + GuardCount, "guarded");
        context.Upload<uint>(buffer.Whole, [.. initialWords, .. Enumerable.Repeat(Guard, GuardCount)]);
    }

    /// <summary><paramref name="count"/> poisoned 4-byte elements followed by guard words.</summary>
    public static GuardedBuffer Poisoned(GpuContext context, int count) => new(context, Enumerable.Repeat(Poison, count).ToArray());

    public static GuardedBuffer WithFloats(GpuContext context, float[] initial) =>
        new(context, initial.Select(BitConverter.SingleToUInt32Bits).ToArray());

    public BufferSlice Data => buffer.Elements<uint>(0, count);

    public float[] ReadFloats() => ReadWords().Select(BitConverter.UInt32BitsToSingle).ToArray();

    public uint[] ReadWords()
    {
        uint[] all = context.Download<uint>(buffer);
        for (int i = count; i < all.Length; i++)
            Assert.True(all[i] == Guard, $"guard word {i - count} after the {count} outputs was overwritten with 0x{all[i]:X8}");
        return all[..count];
    }

    public void Dispose() => buffer.Dispose();
}
