using Silk.NET.Vulkan;
using VkBuffer = Silk.NET.Vulkan.Buffer;

namespace VkDiffusion.Runtime.Vulkan;

/// <summary>
/// One VkDeviceMemory with one VkBuffer over all of it, carved into aligned ranges by first fit;
/// freed neighbours coalesce.
/// </summary>
internal sealed class MemoryBlock(DeviceMemory memory, VkBuffer buffer, long size, nint mappedPointer, MemoryKind kind)
{
    public DeviceMemory Memory { get; } = memory;
    public VkBuffer Buffer { get; } = buffer;
    public long Size { get; } = size;
    public nint MappedPointer { get; } = mappedPointer;
    public MemoryKind Kind { get; } = kind;
    private readonly SortedDictionary<long, long> freeRanges = new() { [0] = size };

    public long UsedBytes { get; private set; }

    public bool TryAllocate(long byteLength, long alignment, out long offset)
    {
        foreach ((long start, long length) in freeRanges)
        {
            long aligned = (start + alignment - 1) / alignment * alignment;
            long end = aligned + byteLength;
            if (end > start + length) continue;
            freeRanges.Remove(start);
            if (aligned > start) freeRanges[start] = aligned - start;
            if (end < start + length) freeRanges[end] = start + length - end;
            UsedBytes += byteLength;
            offset = aligned;
            return true;
        }
        offset = -1;
        return false;
    }

    public void Release(long offset, long byteLength)
    {
        UsedBytes -= byteLength;
        long start = offset, end = offset + byteLength;
        long? previous = null;
        foreach (long key in freeRanges.Keys)
        {
            if (key >= start) break;
            previous = key;
        }
        if (previous is long before && before + freeRanges[before] == start)
        {
            start = before;
            freeRanges.Remove(before);
        }
        if (freeRanges.TryGetValue(end, out long afterLength))
        {
            freeRanges.Remove(end);
            end += afterLength;
        }
        freeRanges[start] = end - start;
    }
}
