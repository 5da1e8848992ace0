using Silk.NET.Vulkan;
using VkBuffer = Silk.NET.Vulkan.Buffer;

namespace VkDiffusion.Runtime.Vulkan;

/// <summary>
/// Sub-allocates buffers from large memory blocks. Device-local memory holds tensors; when the device
/// shares memory with the host (a CPU implementation, UMA: <see cref="DeviceInfo.MappableDeviceMemory"/>),
/// device-local memory is also host-visible and is mapped, so uploads and downloads are plain copies with no staging.
/// </summary>
public sealed unsafe class GpuMemory : IDisposable
{
    private const long DefaultBlockBytes = 256L * 1024 * 1024;
    private readonly GpuContext context;
    private readonly List<MemoryBlock> blocks = [];
    private readonly object gate = new();
    private readonly uint deviceLocalType;
    private readonly uint hostVisibleType;
    private readonly bool deviceLocalIsMapped;
    private readonly ulong[] heapBytesOfType;

    /// <summary>Every buffer offset is aligned to this, which satisfies minStorageBufferOffsetAlignment.</summary>
    public long Alignment { get; }

    internal GpuMemory(GpuContext context)
    {
        this.context = context;
        Alignment = Math.Max(256, context.Info.MinStorageBufferOffsetAlignment);
        PhysicalDeviceMemoryProperties properties;
        context.Api.GetPhysicalDeviceMemoryProperties(context.PhysicalDevice, &properties);
        const MemoryPropertyFlags hostFlags = MemoryPropertyFlags.HostVisibleBit | MemoryPropertyFlags.HostCoherentBit;
        int mappedDeviceLocal = context.Info.MappableDeviceMemory ? FindType(properties, MemoryPropertyFlags.DeviceLocalBit | hostFlags) : -1;
        deviceLocalIsMapped = mappedDeviceLocal >= 0;
        deviceLocalType = (uint)(mappedDeviceLocal >= 0 ? mappedDeviceLocal : FindType(properties, MemoryPropertyFlags.DeviceLocalBit));
        heapBytesOfType = new ulong[properties.MemoryTypeCount];
        for (int type = 0; type < properties.MemoryTypeCount; type++)
            heapBytesOfType[type] = properties.MemoryHeaps[(int)properties.MemoryTypes[type].HeapIndex].Size;
        int cached = FindType(properties, hostFlags | MemoryPropertyFlags.HostCachedBit);
        hostVisibleType = (uint)(cached >= 0 ? cached : FindType(properties, hostFlags));
    }

    public long AllocatedBytes { get { lock (gate) return blocks.Sum(b => b.Size); } }
    public long UsedBytes { get { lock (gate) return blocks.Sum(b => b.UsedBytes); } }

    public GpuBuffer Allocate(long byteLength, string name, MemoryKind kind = MemoryKind.DeviceLocal)
    {
        if (byteLength <= 0) throw new ArgumentOutOfRangeException(nameof(byteLength), $"buffer {name} needs a positive size, got {byteLength}");
        long rounded = (byteLength + Alignment - 1) / Alignment * Alignment;
        lock (gate)
        {
            foreach (MemoryBlock existing in blocks)
                if (existing.Kind == kind && existing.TryAllocate(rounded, Alignment, out long offset))
                    return new GpuBuffer(this, existing, offset, byteLength, name);
            MemoryBlock block = CreateBlock(Math.Max(rounded, kind == MemoryKind.DeviceLocal ? DefaultBlockBytes : 16L * 1024 * 1024), kind, name);
            blocks.Add(block);
            if (!block.TryAllocate(rounded, Alignment, out long blockOffset)) throw new InvalidOperationException("a fresh block must fit its first buffer");
            return new GpuBuffer(this, block, blockOffset, byteLength, name);
        }
    }

    internal void Free(GpuBuffer buffer)
    {
        // The buffer may be bound by a submission still on the queue.
        context.WaitForSubmittedWork();
        long rounded = (buffer.ByteLength + Alignment - 1) / Alignment * Alignment;
        lock (gate) buffer.Block.Release(buffer.BlockOffset, rounded);
    }

    private MemoryBlock CreateBlock(long size, MemoryKind kind, string firstUser)
    {
        // A compile-only context (which may have no memory at all) lays buffers out without memory: only their ranges matter.
        if (context.CompileOnly) return new MemoryBlock(default, default, size, 0, kind);
        Vk vk = context.Api;
        uint type = kind == MemoryKind.DeviceLocal ? deviceLocalType : hostVisibleType;
        // Asking for more than the heap holds is invalid API use, not an error the driver must report.
        if ((ulong)size > heapBytesOfType[type]) throw OutOfMemory(size, firstUser);
        var bufferInfo = new BufferCreateInfo
        {
            SType = StructureType.BufferCreateInfo,
            Size = (ulong)size,
            Usage = BufferUsageFlags.StorageBufferBit | BufferUsageFlags.UniformTexelBufferBit | BufferUsageFlags.TransferSrcBit | BufferUsageFlags.TransferDstBit,
            SharingMode = SharingMode.Exclusive,
        };
        VkBuffer buffer;
        VulkanResult.Check(vk.CreateBuffer(context.Device, &bufferInfo, null, &buffer), "vkCreateBuffer");
        MemoryRequirements requirements;
        vk.GetBufferMemoryRequirements(context.Device, buffer, &requirements);
        var allocateInfo = new MemoryAllocateInfo
        {
            SType = StructureType.MemoryAllocateInfo,
            AllocationSize = requirements.Size,
            MemoryTypeIndex = type,
        };
        DeviceMemory memory;
        Result result = vk.AllocateMemory(context.Device, &allocateInfo, null, &memory);
        if (result is Result.ErrorOutOfDeviceMemory or Result.ErrorOutOfHostMemory)
        {
            vk.DestroyBuffer(context.Device, buffer, null);
            throw OutOfMemory(size, firstUser);
        }
        VulkanResult.Check(result, "vkAllocateMemory");
        VulkanResult.Check(vk.BindBufferMemory(context.Device, buffer, memory, 0), "vkBindBufferMemory");
        nint mapped = 0;
        if (kind == MemoryKind.HostVisible || deviceLocalIsMapped)
        {
            void* pointer;
            VulkanResult.Check(vk.MapMemory(context.Device, memory, 0, Vk.WholeSize, 0, &pointer), "vkMapMemory");
            mapped = (nint)pointer;
        }
        return new MemoryBlock(memory, buffer, size, mapped, kind);
    }

    private OutOfDeviceMemoryException OutOfMemory(long size, string firstUser) => new(
        $"Out of device memory allocating {size / (1024.0 * 1024):F1} MiB for {firstUser} " +
        $"({UsedBytes / (1024.0 * 1024):F1} MiB in use of {context.Info.DeviceLocalBytes / (1024.0 * 1024):F0} MiB on {context.Info.Name}). " +
        "Use a smaller --batch (with --grad-accum to keep the effective batch), a shorter --seq-len or a smaller model.");

    private static int FindType(PhysicalDeviceMemoryProperties properties, MemoryPropertyFlags wanted)
    {
        for (int type = 0; type < properties.MemoryTypeCount; type++)
            if ((properties.MemoryTypes[type].PropertyFlags & wanted) == wanted) return type;
        return -1;
    }

    public void Dispose()
    {
        lock (gate)
        {
            foreach (MemoryBlock block in blocks)
            {
                context.Api.DestroyBuffer(context.Device, block.Buffer, null);
                context.Api.FreeMemory(context.Device, block.Memory, null);
            }
            blocks.Clear();
        }
    }
}
