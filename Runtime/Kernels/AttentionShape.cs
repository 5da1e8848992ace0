using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// Shape checks and batch chunking shared by the attention kernels. A dispatch covers a run of whole
/// batches so that no binding exceeds maxStorageBufferRange and the grid's y (batches × heads) stays
/// within 65535; each binding starts at an offset rounded down to minStorageBufferOffsetAlignment and
/// the kernel gets the remainder as an element offset. QkvElementBytes: 4 for fp32 qkv, 2 for 16-bit; every other
/// operand is fp32.
/// </summary>
internal readonly record struct AttentionShape(int BatchCount, int SequenceLength, int HeadCount, int HeadDim, int QkvElementBytes = sizeof(float))
{
    private const int MaxGridY = 65535;

    public long QkvBytesPerBatch => 3L * SequenceLength * HeadCount * HeadDim * QkvElementBytes;
    public long QkvGradBytesPerBatch => 3L * SequenceLength * HeadCount * HeadDim * sizeof(float);
    public long RowBytesPerBatch => (long)SequenceLength * HeadCount * HeadDim * sizeof(float);
    public long LseBytesPerBatch => (long)HeadCount * SequenceLength * sizeof(float);

    public void Validate()
    {
        if (BatchCount < 1 || SequenceLength < 1 || HeadCount < 1)
            throw new ArgumentOutOfRangeException(nameof(BatchCount), $"attention: batch {BatchCount}, sequence {SequenceLength} and heads {HeadCount} must be positive");
        if (!AttentionKernels.SupportedHeadDims.Contains(HeadDim))
            throw new ArgumentOutOfRangeException(nameof(HeadDim), $"attention: head dim {HeadDim} is not one of {string.Join(", ", AttentionKernels.SupportedHeadDims)}");
        if (HeadCount > MaxGridY)
            throw new ArgumentOutOfRangeException(nameof(HeadCount), $"attention: {HeadCount} heads exceed the grid limit of {MaxGridY}");
    }

    public void Require(BufferSlice slice, long bytesPerBatch, string name)
    {
        Validate();
        long needed = bytesPerBatch * BatchCount;
        if (slice.Length < needed)
            throw new ArgumentException($"attention: {name} {slice} holds {slice.Length} bytes; batch {BatchCount} × seq {SequenceLength} × heads {HeadCount} × head dim {HeadDim} needs {needed}");
    }

    /// <summary>Runs of whole batches, each small enough for one dispatch.</summary>
    /// <paramref name="texelLoads"/>: qkv and dO are read as texel buffers, so windows also respect the texel limits.
    public IEnumerable<BatchChunk> Chunks(DeviceInfo device, int maxBatchesPerChunk, bool texelLoads)
    {
        long alignment = texelLoads ? device.MinStorageOrTexelOffsetAlignment : device.MinStorageBufferOffsetAlignment;
        ulong range = Math.Min(device.MaxStorageBufferRange, (ulong)uint.MaxValue * sizeof(float));
        if (texelLoads) range = Math.Min(range, (ulong)device.MaxTexelBufferElements * sizeof(float));
        long usableRange = (long)range - alignment;
        long largestPerBatch = QkvGradBytesPerBatch;
        if (largestPerBatch > usableRange)
            throw new BindingRangeException($"attention: one sequence's qkv ({largestPerBatch} bytes) exceeds this device's binding range ({range} bytes)" +
                (texelLoads ? "; VKDIFF_ATTENTION_TEXELS=0 reads it as a storage buffer" : "; use a shorter sequence"));
        int perChunk = (int)Math.Min(Math.Min(usableRange / largestPerBatch, MaxGridY / HeadCount), Math.Max(1, maxBatchesPerChunk));
        for (int first = 0; first < BatchCount; first += perChunk)
            yield return new BatchChunk(first, Math.Min(perChunk, BatchCount - first), alignment);
    }
}

/// <summary>Batches [First, First + Count) of one dispatch.</summary>
internal readonly record struct BatchChunk(int First, int Count, long Alignment)
{
    /// <summary>
    /// The part of <paramref name="whole"/> this chunk touches, bound from an aligned offset, and the element offset of its
    /// start in elements of <paramref name="elementBytes"/>.
    /// </summary>
    public (BufferSlice Slice, uint BaseElement) Window(BufferSlice whole, long bytesPerBatch, int elementBytes = sizeof(float))
    {
        long start = First * bytesPerBatch;
        long slack = (whole.AbsoluteOffset + start) % Alignment;
        // The rounded-down start may lie before the operand's own slice (an operand at a misaligned offset), never
        // before its buffer: buffers start aligned.
        var slice = new BufferSlice(whole.Buffer, whole.Offset + start - slack, slack + Count * bytesPerBatch);
        return (slice, (uint)(slack / elementBytes));
    }
}
