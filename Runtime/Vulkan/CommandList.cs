using System.Runtime.CompilerServices;
using Silk.NET.Vulkan;
using VkBuffer = Silk.NET.Vulkan.Buffer;

namespace VkDiffusion.Runtime.Vulkan;

/// <summary>
/// A replayable recording: dispatches and copies are recorded once, with barriers only where
/// <see cref="HazardTracker"/> finds a real hazard, then submitted any number of times. A
/// <see cref="SubmissionPlan"/> may cut it into several command buffers, submitted one after another;
/// the barriers stay valid across a cut because a pipeline barrier orders everything earlier in
/// submission order on the queue, not only its own command buffer. With profiling on, every command is
/// bracketed by timestamp queries.
/// </summary>
public sealed unsafe class CommandList : IDisposable
{
    private const int SetsPerPool = 256;

    private readonly GpuContext context;
    private readonly List<CommandBuffer> commandBuffers = [];
    private readonly SubmissionPlan plan;
    private readonly List<DescriptorPool> descriptorPools = [];
    private readonly Dictionary<(ulong Buffer, long Offset, long Length, TexelFormat Format), BufferView> texelViews = [];
    private readonly HazardTracker hazards = new();
    private readonly QueryPool queryPool;
    private readonly int queryCapacity;
    private readonly List<string> labels = [];
    private readonly List<GpuBuffer> scratchBuffers = [];
    private readonly List<Kernel> dispatchedKernels = [];
    private readonly bool compileOnly;
    private int setsLeftInPool;
    private bool ended;
    private bool disposed;

    internal Fence Fence { get; }
    internal bool Pending { get; set; }

    public int DispatchCount { get; private set; }
    public int CopyCount { get; private set; }
    public int BarrierCount { get; private set; }
    public bool Profiling { get; }
    public IReadOnlyList<string> Labels => labels;
    /// <summary>The kernel of every dispatch, in recording order: on a compile-only context, what the recording is; after a hang, what ran.</summary>
    public IReadOnlyList<Kernel> DispatchedKernels => dispatchedKernels;

    internal CommandList(GpuContext context, bool profile, int maxProfiledCommands, SubmissionPlan plan)
    {
        this.context = context;
        this.plan = plan;
        // A compile-only context has no queue work: the list checks and keeps its dispatches and creates nothing.
        compileOnly = context.CompileOnly;
        if (compileOnly) return;
        Vk vk = context.Api;
        var fenceInfo = new FenceCreateInfo { SType = StructureType.FenceCreateInfo };
        Fence fence;
        VulkanResult.Check(vk.CreateFence(context.Device, &fenceInfo, null, &fence), "vkCreateFence");
        Fence = fence;

        Profiling = profile && context.Info.Timestamps;
        if (Profiling)
        {
            queryCapacity = 2 * maxProfiledCommands;
            var queryInfo = new QueryPoolCreateInfo
            {
                SType = StructureType.QueryPoolCreateInfo,
                QueryType = QueryType.Timestamp,
                QueryCount = (uint)queryCapacity,
            };
            QueryPool pool;
            VulkanResult.Check(vk.CreateQueryPool(context.Device, &queryInfo, null, &pool), "vkCreateQueryPool");
            queryPool = pool;
        }

        BeginCommandBuffer();
        if (Profiling) vk.CmdResetQueryPool(CurrentBuffer, queryPool, 0, (uint)queryCapacity);
    }

    /// <summary>The command buffers in submission order: one per queue submission of a step.</summary>
    internal IReadOnlyList<CommandBuffer> Handles => commandBuffers;
    public int SubmissionCount => commandBuffers.Count;
    public GpuContext Context => context;

    private CommandBuffer CurrentBuffer => commandBuffers[^1];

    /// <summary>Records a dispatch of <paramref name="kernel"/> with push constants <paramref name="push"/>.</summary>
    public void Dispatch<TPush>(Kernel kernel, uint groupsX, uint groupsY, uint groupsZ, in TPush push, params ReadOnlySpan<Binding> bindings)
        where TPush : unmanaged
    {
        if (sizeof(TPush) > KernelCache.PushConstantBytes)
            throw new ArgumentException($"push constants of {kernel.Name} are {sizeof(TPush)} bytes; the portable limit is {KernelCache.PushConstantBytes}");
        TPush copy = push;
        Dispatch(kernel, groupsX, groupsY, groupsZ, new ReadOnlySpan<byte>(&copy, sizeof(TPush)), bindings);
    }

    public void Dispatch(Kernel kernel, uint groupsX, uint groupsY, uint groupsZ, ReadOnlySpan<byte> push, ReadOnlySpan<Binding> bindings)
    {
        EnsureRecording();
        if (bindings.Length > KernelCache.BindingCount)
            throw new ArgumentException($"{kernel.Name} binds {bindings.Length} buffers; the shared layout has {KernelCache.BindingCount}");
        uint maxGroups = context.Info.MaxComputeWorkGroupCountX;
        if (groupsX == 0 || groupsY == 0 || groupsZ == 0 || groupsX > maxGroups || groupsY > 65535 || groupsZ > 65535)
            throw new ArgumentOutOfRangeException(nameof(groupsX), $"{kernel.Name}: grid ({groupsX}, {groupsY}, {groupsZ}) is empty or exceeds the device limits");
        for (int slot = 0; slot < bindings.Length; slot++) CheckBindable(kernel, bindings[slot], slot);
        dispatchedKernels.Add(kernel);
        if (compileOnly)
        {
            DispatchCount++;
            return;
        }

        Vk vk = context.Api;
        StartSubmissionIfPlanned();
        InsertBarrierIfNeeded(bindings);
        DescriptorSet set = AllocateSet();
        WriteSet(set, bindings);
        vk.CmdBindPipeline(CurrentBuffer, PipelineBindPoint.Compute, kernel.Pipeline);
        vk.CmdBindDescriptorSets(CurrentBuffer, PipelineBindPoint.Compute, context.Kernels.PipelineLayout, 0, 1, &set, 0, null);
        if (push.Length > 0)
            fixed (byte* pointer = push)
                vk.CmdPushConstants(CurrentBuffer, context.Kernels.PipelineLayout, ShaderStageFlags.ComputeBit, 0, (uint)push.Length, pointer);
        WriteTimestamp(PipelineStageFlags.TopOfPipeBit, kernel.ToString());
        vk.CmdDispatch(CurrentBuffer, groupsX, groupsY, groupsZ);
        WriteTimestamp(PipelineStageFlags.BottomOfPipeBit, null);
        hazards.Record(bindings);
        DispatchCount++;
    }

    /// <summary>
    /// A device buffer that lives as long as this command list, for intermediate results of one recorded
    /// operation (e.g. split-K partial products). Every replay reuses it.
    /// </summary>
    public BufferSlice Scratch(long byteLength, string name)
    {
        EnsureRecording();
        GpuBuffer buffer = context.Memory.Allocate(byteLength, name);
        scratchBuffers.Add(buffer);
        return buffer.Whole;
    }

    /// <summary>Records a buffer-to-buffer copy (same length), e.g. staging uploads.</summary>
    public void Copy(BufferSlice source, BufferSlice destination)
    {
        EnsureRecording();
        if (source.Length != destination.Length)
            throw new ArgumentException($"copy from {source} to {destination}: lengths differ");
        if (compileOnly)
        {
            CopyCount++;
            return;
        }
        Span<Binding> bindings = [Binding.Read(source), Binding.Write(destination)];
        StartSubmissionIfPlanned();
        InsertBarrierIfNeeded(bindings);
        var region = new BufferCopy((ulong)source.AbsoluteOffset, (ulong)destination.AbsoluteOffset, (ulong)source.Length);
        WriteTimestamp(PipelineStageFlags.TopOfPipeBit, "copy");
        context.Api.CmdCopyBuffer(CurrentBuffer, source.Buffer.Block.Buffer, destination.Buffer.Block.Buffer, 1, &region);
        WriteTimestamp(PipelineStageFlags.BottomOfPipeBit, null);
        hazards.Record(bindings);
        CopyCount++;
    }

    /// <summary>Finishes recording; the list can then be submitted repeatedly.</summary>
    public CommandList End()
    {
        EnsureRecording();
        ended = true;
        if (compileOnly) return this;
        // Make every write visible to the host (downloads from mapped memory) and to later submissions, which may be
        // queued before this one finishes (the next training step, submitted ahead): they read what this list wrote
        // and write what it read or wrote, so the barrier orders both, writes included.
        var barrier = new MemoryBarrier
        {
            SType = StructureType.MemoryBarrier,
            SrcAccessMask = AccessFlags.ShaderWriteBit | AccessFlags.TransferWriteBit,
            DstAccessMask = AccessFlags.HostReadBit | AccessFlags.ShaderReadBit | AccessFlags.TransferReadBit |
                AccessFlags.ShaderWriteBit | AccessFlags.TransferWriteBit,
        };
        context.Api.CmdPipelineBarrier(CurrentBuffer, PipelineStageFlags.ComputeShaderBit | PipelineStageFlags.TransferBit,
            PipelineStageFlags.HostBit | PipelineStageFlags.ComputeShaderBit | PipelineStageFlags.TransferBit, 0, 1, &barrier, 0, null, 0, null);
        VulkanResult.Check(context.Api.EndCommandBuffer(CurrentBuffer), "vkEndCommandBuffer");
        return this;
    }

    public bool IsEnded => ended;

    /// <summary>GPU time of each command of the last completed submission, in milliseconds.</summary>
    public IReadOnlyList<(string Label, double Milliseconds)> ReadTimings()
    {
        if (!Profiling) throw new InvalidOperationException("this command list was not recorded with profiling (or the device has no timestamps)");
        context.Wait(this);
        int count = labels.Count * 2;
        var values = new ulong[Math.Max(1, count)];
        if (count > 0)
            fixed (ulong* pointer = values)
                VulkanResult.Check(context.Api.GetQueryPoolResults(context.Device, queryPool, 0, (uint)count, (nuint)(count * 8), pointer, 8,
                    QueryResultFlags.Result64Bit | QueryResultFlags.ResultWaitBit), "vkGetQueryPoolResults");
        double period = context.Info.TimestampPeriodNs * 1e-6;
        return labels.Select((label, i) => (label, (values[2 * i + 1] - values[2 * i]) * period)).ToList();
    }

    private void StartSubmissionIfPlanned()
    {
        if (!plan.StartsSubmission(DispatchCount + CopyCount)) return;
        VulkanResult.Check(context.Api.EndCommandBuffer(CurrentBuffer), "vkEndCommandBuffer");
        BeginCommandBuffer();
    }

    private void BeginCommandBuffer()
    {
        var allocateInfo = new CommandBufferAllocateInfo
        {
            SType = StructureType.CommandBufferAllocateInfo,
            CommandPool = context.CommandPool,
            Level = CommandBufferLevel.Primary,
            CommandBufferCount = 1,
        };
        CommandBuffer buffer;
        VulkanResult.Check(context.Api.AllocateCommandBuffers(context.Device, &allocateInfo, &buffer), "vkAllocateCommandBuffers");
        commandBuffers.Add(buffer);
        var beginInfo = new CommandBufferBeginInfo { SType = StructureType.CommandBufferBeginInfo };
        VulkanResult.Check(context.Api.BeginCommandBuffer(buffer, &beginInfo), "vkBeginCommandBuffer");
    }

    private void WriteTimestamp(PipelineStageFlags stage, string? label)
    {
        if (!Profiling) return;
        if (label is not null)
        {
            if (labels.Count * 2 + 2 > queryCapacity)
                throw new InvalidOperationException($"more than {queryCapacity / 2} profiled commands; raise maxProfiledCommands");
            labels.Add(label);
        }
        int query = label is not null ? 2 * (labels.Count - 1) : 2 * (labels.Count - 1) + 1;
        context.Api.CmdWriteTimestamp(CurrentBuffer, stage, queryPool, (uint)query);
    }

    private void InsertBarrierIfNeeded(ReadOnlySpan<Binding> bindings)
    {
        if (!hazards.NeedsBarrier(bindings)) return;
        var barrier = new MemoryBarrier
        {
            SType = StructureType.MemoryBarrier,
            SrcAccessMask = AccessFlags.ShaderWriteBit | AccessFlags.ShaderReadBit | AccessFlags.TransferWriteBit | AccessFlags.TransferReadBit,
            DstAccessMask = AccessFlags.ShaderReadBit | AccessFlags.ShaderWriteBit | AccessFlags.TransferReadBit | AccessFlags.TransferWriteBit,
        };
        const PipelineStageFlags stages = PipelineStageFlags.ComputeShaderBit | PipelineStageFlags.TransferBit;
        context.Api.CmdPipelineBarrier(CurrentBuffer, stages, stages, 0, 1, &barrier, 0, null, 0, null);
        hazards.Clear();
        BarrierCount++;
    }

    private void CheckBindable(Kernel kernel, Binding binding, int slot)
    {
        BufferSlice slice = binding.Slice;
        if (slice.Buffer.IsDisposed) throw new ObjectDisposedException(slice.Buffer.Name, $"{kernel.Name} binds a disposed buffer");
        if (slice.Length <= 0) throw new ArgumentException($"{kernel.Name} binds an empty range of {slice.Buffer.Name}");
        if (binding.AsTexels)
        {
            if (slot >= KernelCache.TexelBindingCount || binding.Writes)
                throw new ArgumentException($"{kernel.Name}: only the first {KernelCache.TexelBindingCount} slots can be read as texels (slot {slot})");
            int texelBytes = binding.Texels == TexelFormat.Float4 ? 4 * sizeof(float) : sizeof(float);
            if (slice.Length % texelBytes != 0 || slice.Length / texelBytes > context.Info.MaxTexelBufferElements)
                throw new ArgumentException($"{kernel.Name} reads {slice} as {binding.Texels} texels: not whole texels or above this device's " +
                    $"maxTexelBufferElements of {context.Info.MaxTexelBufferElements}");
            if (slice.AbsoluteOffset % context.Info.MinTexelBufferOffsetAlignment != 0)
                throw new ArgumentException($"{kernel.Name} reads {slice} as texels at an offset not aligned to {context.Info.MinTexelBufferOffsetAlignment} bytes");
            return;
        }
        if ((ulong)slice.Length > context.Info.MaxStorageBufferRange)
            throw new ArgumentException($"{kernel.Name} binds {slice.Length} bytes of {slice.Buffer.Name}, above this device's " +
                $"maxStorageBufferRange of {context.Info.MaxStorageBufferRange}; the op must process it in chunks");
        if (slice.AbsoluteOffset % context.Info.MinStorageBufferOffsetAlignment != 0)
            throw new ArgumentException($"{kernel.Name} binds {slice} at an offset not aligned to {context.Info.MinStorageBufferOffsetAlignment} bytes");
    }

    private DescriptorSet AllocateSet()
    {
        Vk vk = context.Api;
        if (setsLeftInPool == 0)
        {
            var sizes = stackalloc DescriptorPoolSize[2]
            {
                new(DescriptorType.StorageBuffer, SetsPerPool * KernelCache.BindingCount),
                new(DescriptorType.UniformTexelBuffer, SetsPerPool * KernelCache.TexelBindingCount),
            };
            var poolInfo = new DescriptorPoolCreateInfo
            {
                SType = StructureType.DescriptorPoolCreateInfo,
                MaxSets = SetsPerPool,
                PoolSizeCount = 2,
                PPoolSizes = sizes,
            };
            DescriptorPool pool;
            VulkanResult.Check(vk.CreateDescriptorPool(context.Device, &poolInfo, null, &pool), "vkCreateDescriptorPool");
            descriptorPools.Add(pool);
            setsLeftInPool = SetsPerPool;
        }
        DescriptorSetLayout layout = context.Kernels.SetLayout;
        var allocateInfo = new DescriptorSetAllocateInfo
        {
            SType = StructureType.DescriptorSetAllocateInfo,
            DescriptorPool = descriptorPools[^1],
            DescriptorSetCount = 1,
            PSetLayouts = &layout,
        };
        DescriptorSet set;
        VulkanResult.Check(vk.AllocateDescriptorSets(context.Device, &allocateInfo, &set), "vkAllocateDescriptorSets");
        setsLeftInPool--;
        return set;
    }

    private void WriteSet(DescriptorSet set, ReadOnlySpan<Binding> bindings)
    {
        // Unused slots point at a small dummy buffer so every binding of the shared layout is valid.
        const int total = KernelCache.BindingCount + KernelCache.TexelBindingCount;
        var infos = stackalloc DescriptorBufferInfo[KernelCache.BindingCount];
        var views = stackalloc BufferView[KernelCache.TexelBindingCount];
        var writes = stackalloc WriteDescriptorSet[total];
        BufferSlice dummy = context.DummyBuffer.Whole;
        for (int slot = 0; slot < KernelCache.BindingCount; slot++)
        {
            bool storage = slot < bindings.Length && !bindings[slot].AsTexels;
            BufferSlice slice = storage ? bindings[slot].Slice : dummy;
            infos[slot] = new DescriptorBufferInfo(slice.Buffer.Block.Buffer, (ulong)slice.AbsoluteOffset, (ulong)slice.Length);
            writes[slot] = new WriteDescriptorSet
            {
                SType = StructureType.WriteDescriptorSet,
                DstSet = set,
                DstBinding = (uint)slot,
                DescriptorCount = 1,
                DescriptorType = DescriptorType.StorageBuffer,
                PBufferInfo = &infos[slot],
            };
        }
        for (int slot = 0; slot < KernelCache.TexelBindingCount; slot++)
        {
            bool texels = slot < bindings.Length && bindings[slot].AsTexels;
            views[slot] = texels ? TexelView(bindings[slot].Slice, bindings[slot].Texels) : TexelView(dummy, TexelFormat.Float);
            writes[KernelCache.BindingCount + slot] = new WriteDescriptorSet
            {
                SType = StructureType.WriteDescriptorSet,
                DstSet = set,
                DstBinding = (uint)(KernelCache.BindingCount + slot),
                DescriptorCount = 1,
                DescriptorType = DescriptorType.UniformTexelBuffer,
                PTexelBufferView = &views[slot],
            };
        }
        context.Api.UpdateDescriptorSets(context.Device, total, writes, 0, null);
    }

    // One view per distinct range and format, kept until the list is disposed (a recorded list is replayed).
    private BufferView TexelView(BufferSlice slice, TexelFormat format)
    {
        var key = (slice.Buffer.Block.Buffer.Handle, slice.AbsoluteOffset, slice.Length, format);
        if (texelViews.TryGetValue(key, out BufferView existing)) return existing;
        var info = new BufferViewCreateInfo
        {
            SType = StructureType.BufferViewCreateInfo,
            Buffer = slice.Buffer.Block.Buffer,
            Format = format == TexelFormat.Float4 ? Format.R32G32B32A32Sfloat : Format.R32Sfloat,
            Offset = (ulong)slice.AbsoluteOffset,
            Range = (ulong)slice.Length,
        };
        BufferView view;
        VulkanResult.Check(context.Api.CreateBufferView(context.Device, &info, null, &view), "vkCreateBufferView");
        texelViews[key] = view;
        return view;
    }

    private void EnsureRecording()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (ended) throw new InvalidOperationException("this command list has ended; record a new one");
    }

    public void Dispose()
    {
        if (disposed) return;
        if (Pending) context.Wait(this);
        disposed = true;
        // A hung device may still be running these commands: freeing what they use would crash its threads. The
        // process ends soon after (CommandRunner), which reclaims it all.
        if (context.FailedReason is not null) return;
        foreach (GpuBuffer scratch in scratchBuffers) scratch.Dispose();
        if (compileOnly) return;
        Vk vk = context.Api;
        foreach (DescriptorPool pool in descriptorPools) vk.DestroyDescriptorPool(context.Device, pool, null);
        foreach (BufferView view in texelViews.Values) vk.DestroyBufferView(context.Device, view, null);
        if (Profiling) vk.DestroyQueryPool(context.Device, queryPool, null);
        foreach (CommandBuffer buffer in commandBuffers)
        {
            CommandBuffer handle = buffer;
            vk.FreeCommandBuffers(context.Device, context.CommandPool, 1, &handle);
        }
        vk.DestroyFence(context.Device, Fence, null);
    }
}
