using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Tests.Infrastructure;

/// <summary>
/// A device buffer whose payload sits between two 256-byte runs of guard words, so a test can prove a
/// kernel wrote nothing outside the range it was given. The payload starts 256-byte aligned.
/// </summary>
public sealed class GuardedBuffer : IDisposable
{
    /// <summary>A NaN bit pattern no kernel produces by accident.</summary>
    public const uint GuardWord = 0x7FBADF00;
    private const int GuardFloats = 64;

    private readonly GpuContext context;
    private readonly GpuBuffer buffer;
    private readonly long payloadFloats;

    public GuardedBuffer(GpuContext context, long payloadFloats, string name)
    {
        this.context = context;
        this.payloadFloats = payloadFloats;
        long paddedPayload = (payloadFloats + GuardFloats - 1) / GuardFloats * GuardFloats;
        buffer = context.Allocate<uint>(GuardFloats + paddedPayload + GuardFloats, name);
        var guards = new uint[buffer.ByteLength / 4];
        Array.Fill(guards, GuardWord);
        context.Upload<uint>(buffer.Whole, guards);
        Payload = buffer.Elements<float>(GuardFloats, payloadFloats);
    }

    public BufferSlice Payload { get; }

    /// <summary>Asserts every word outside the payload still holds <see cref="GuardWord"/>.</summary>
    public void AssertGuardsIntact()
    {
        uint[] words = context.Download<uint>(buffer);
        for (long i = 0; i < words.Length; i++)
        {
            bool inPayload = i >= GuardFloats && i < GuardFloats + payloadFloats;
            if (!inPayload && words[i] != GuardWord)
                Assert.Fail($"{buffer.Name}: guard word {i} was overwritten with 0x{words[i]:x8}");
        }
    }

    public void Dispose() => buffer.Dispose();
}
