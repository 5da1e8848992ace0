using VkDiffusion.Runtime.Randomness;
using VkDiffusion.Runtime.Vulkan;
using static VkDiffusion.Runtime.Kernels.KernelShapes;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// Inverted dropout (Shaders/dropout.comp): y = keep ? x / (1 - probability) : 0, keep = (u >= probability)
/// with u the Philox uniform of (seed, random step) from the StepScalars buffer, element index, row 0 and
/// stream <c>streamId</c> (one id per dropout site, at or above <see cref="Philox4x32.Streams.FirstDropout"/>).
/// The backward redraws the same mask: record it in the same step with the same stream. A tensor bigger than one binding
/// goes in runs of elements, each drawing its own elements' uniforms, so the mask does not change.
/// </summary>
public static class DropoutKernels
{
    private const uint WorkgroupSize = 256;

    private readonly record struct Push(uint Count, float Probability, float Scale, uint Stream, uint FirstBlock);

    public static void Forward(CommandList c, BufferSlice x, BufferSlice y, BufferSlice stepScalars, float probability, uint streamId, int count) =>
        Apply(c, x, y, stepScalars, probability, streamId, count, "dropout forward");

    /// <summary>dx = keep ? dy / (1 - probability) : 0, with the forward's mask.</summary>
    public static void Backward(CommandList c, BufferSlice dy, BufferSlice dx, BufferSlice stepScalars, float probability, uint streamId, int count) =>
        Apply(c, dy, dx, stepScalars, probability, streamId, count, "dropout backward");

    /// <summary>1 / (1 - probability) rounded to fp32: the factor kept elements are multiplied by, on both sides.</summary>
    public static float Scale(float probability) => (float)(1.0 / (1.0 - probability));

    private static void Apply(CommandList c, BufferSlice input, BufferSlice output, BufferSlice stepScalars, float probability, uint streamId, int count, string op)
    {
        uint elements = Positive(count, nameof(count));
        if (!(probability >= 0f && probability < 1f)) throw new ArgumentOutOfRangeException(nameof(probability), probability, $"{op}: probability must be in [0, 1)");
        if (streamId < Philox4x32.Streams.FirstDropout)
            throw new ArgumentOutOfRangeException(nameof(streamId), streamId, $"{op}: streams below {Philox4x32.Streams.FirstDropout} are reserved for MDM corruption");
        if (stepScalars.Length < StepScalars.ByteLength) throw new ArgumentException($"{op}: {stepScalars} is shorter than the step-scalar block");
        Require(input, elements, op, "input");
        Require(output, elements, op, "output");
        // Runs of whole four-element blocks, one Philox draw each.
        foreach (var (firstBlock, blocks) in BindingChunks(c.Context.Info, ((long)elements + 3) / 4, op, 4 * sizeof(float)))
        {
            long first = 4 * firstBlock, length = Math.Min(4 * blocks, elements - first);
            c.Dispatch(c.Context.Kernels.Get("dropout", WorkgroupSize), KernelStyle.GridStrideGroups(c.Context.Info, blocks, WorkgroupSize), 1, 1,
                new Push((uint)length, probability, Scale(probability), streamId, (uint)firstBlock),
                Binding.Read(stepScalars.Slice(0, StepScalars.ByteLength)),
                Binding.Read(input.Elements<float>(first, length)),
                Binding.Write(output.Elements<float>(first, length)));
        }
    }
}
