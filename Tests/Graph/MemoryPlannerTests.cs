using VkDiffusion.Runtime.Graph;

namespace VkDiffusion.Tests.Graph;

public sealed class MemoryPlannerTests
{
    private static void Op(ComputeGraph graph, Tensor[] reads, Tensor[] writes) => graph.Add("op", reads, writes, _ => { });

    [Fact]
    public void A_chain_reuses_memory_and_never_overlaps_live_tensors()
    {
        var graph = new ComputeGraph();
        var tensors = Enumerable.Range(0, 8).Select(i => graph.NewTensor($"t{i}", TensorRole.Transient, 1000 + 10 * i)).ToArray();
        Op(graph, [], [tensors[0]]);
        for (int i = 1; i < tensors.Length; i++) Op(graph, [tensors[i - 1]], [tensors[i]]);

        MemoryPlanner.Plan plan = MemoryPlanner.PlaceTransients(graph, alignment: 256);

        // In a chain only two neighbours are alive at once, so the arena needs about two tensors, not eight.
        Assert.True(plan.ArenaBytes < plan.UnplannedBytes / 3, $"arena {plan.ArenaBytes} vs naive {plan.UnplannedBytes}");
        AssertNoLiveOverlap(graph, plan);
    }

    [Fact]
    public void Tensors_alive_together_get_disjoint_bytes_and_aliases_share_their_storage()
    {
        var graph = new ComputeGraph();
        Tensor a = graph.NewTensor("a", TensorRole.Transient, 300);
        Tensor b = graph.NewTensor("b", TensorRole.Transient, 500);
        Tensor c = graph.NewTensor("c", TensorRole.Transient, 700);
        Tensor viewOfA = graph.NewAlias("a_view", a, 300);
        Tensor parameter = graph.NewTensor("w", TensorRole.Parameter, 100);
        Op(graph, [], [a]);
        Op(graph, [a, parameter], [b]);
        Op(graph, [b], [c]);
        Op(graph, [viewOfA, c], [c]);

        MemoryPlanner.Plan plan = MemoryPlanner.PlaceTransients(graph, alignment: 256);

        Assert.False(plan.Offsets.ContainsKey(parameter), "persistent tensors are not placed in the arena");
        Assert.False(plan.Offsets.ContainsKey(viewOfA), "an alias uses its storage's placement");
        // a lives from op 0 to op 3 (through its alias), so it overlaps b and c in time.
        AssertNoLiveOverlap(graph, plan);
        Assert.Equal(3, plan.Offsets.Count);
    }

    private static void AssertNoLiveOverlap(ComputeGraph graph, MemoryPlanner.Plan plan)
    {
        var lifetimes = plan.Offsets.Keys.ToDictionary(t => t, t =>
        {
            var uses = graph.Ops.Select((op, index) => (op, index)).Where(x => x.op.Reads.Concat(x.op.Writes).Any(u => u.Storage == t)).Select(x => x.index).ToList();
            return (First: uses.Min(), Last: uses.Max());
        });
        foreach (var (x, offsetX) in plan.Offsets)
            foreach (var (y, offsetY) in plan.Offsets)
            {
                if (x == y) continue;
                bool aliveTogether = lifetimes[x].First <= lifetimes[y].Last && lifetimes[y].First <= lifetimes[x].Last;
                bool bytesOverlap = offsetX < offsetY + y.ByteLength && offsetY < offsetX + x.ByteLength;
                Assert.False(aliveTogether && bytesOverlap, $"{x.Name} and {y.Name} are alive together but share bytes");
                Assert.True(offsetX + x.ByteLength <= plan.ArenaBytes);
            }
    }
}
