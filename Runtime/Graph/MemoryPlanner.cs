namespace VkDiffusion.Runtime.Graph;

/// <summary>
/// Liveness-based placement of transient tensors in one arena: a tensor lives from the first op that
/// touches it to the last; tensors whose lifetimes do not overlap may share bytes. Greedy by size
/// (largest first), lowest offset that fits.
/// </summary>
public static class MemoryPlanner
{
    public sealed record Plan(IReadOnlyDictionary<Tensor, long> Offsets, long ArenaBytes, long UnplannedBytes);

    public static Plan PlaceTransients(ComputeGraph graph, long alignment)
    {
        var first = new Dictionary<Tensor, int>();
        var last = new Dictionary<Tensor, int>();
        for (int index = 0; index < graph.Ops.Count; index++)
        {
            GraphOp op = graph.Ops[index];
            foreach (Tensor used in op.Reads.Concat(op.Writes))
            {
                Tensor storage = used.Storage;
                if (storage.Role != TensorRole.Transient) continue;
                first.TryAdd(storage, index);
                last[storage] = index;
            }
        }

        var placed = new List<(Tensor Tensor, long Offset, long End)>();
        var offsets = new Dictionary<Tensor, long>();
        long arena = 0;
        foreach (Tensor tensor in first.Keys.OrderByDescending(t => t.ByteLength).ThenBy(t => t.Id))
        {
            var conflicts = placed
                .Where(p => first[p.Tensor] <= last[tensor] && first[tensor] <= last[p.Tensor])
                .OrderBy(p => p.Offset)
                .ToList();
            long offset = 0;
            foreach (var (_, start, end) in conflicts)
            {
                if (offset + tensor.ByteLength <= start) break;
                offset = Math.Max(offset, AlignUp(end, alignment));
            }
            placed.Add((tensor, offset, offset + tensor.ByteLength));
            offsets[tensor] = offset;
            arena = Math.Max(arena, AlignUp(offset + tensor.ByteLength, alignment));
        }
        long unplanned = first.Keys.Sum(t => AlignUp(t.ByteLength, alignment));
        return new Plan(offsets, arena, unplanned);
    }

    public static long AlignUp(long value, long alignment) => (value + alignment - 1) / alignment * alignment;
}
