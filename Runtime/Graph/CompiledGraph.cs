using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Graph;

/// <summary>
/// A graph with memory assigned and its ops recorded once into one command list: each run is one
/// queue submission. Persistent tensors get their own buffers (host-visible for host inputs and
/// outputs); transient tensors share one arena laid out by <see cref="MemoryPlanner"/>.
/// </summary>
public sealed class CompiledGraph : IDisposable
{
    private readonly GpuContext context;
    private readonly List<GpuBuffer> buffers = [];

    public ComputeGraph Graph { get; }
    public CommandList Commands { get; }
    public MemoryReport Memory { get; }

    public CompiledGraph(GpuContext context, ComputeGraph graph, bool profile = false, Func<Tensor, BufferSlice?>? sharedStorage = null)
    {
        this.context = context;
        Graph = graph;
        long alignment = context.Memory.Alignment;
        var used = graph.Ops.SelectMany(op => op.Reads.Concat(op.Writes)).Select(t => t.Storage).ToHashSet();

        var persistentBytes = new Dictionary<TensorRole, long>();
        foreach (Tensor tensor in graph.Tensors.Where(t => t.AliasOf is null && t.Role != TensorRole.Transient && used.Contains(t)))
        {
            if (sharedStorage?.Invoke(tensor) is BufferSlice shared)
            {
                tensor.Slice = shared;
                continue;
            }
            MemoryKind kind = tensor.Role is TensorRole.HostInput or TensorRole.HostOutput ? MemoryKind.HostVisible : MemoryKind.DeviceLocal;
            GpuBuffer buffer = context.Memory.Allocate(tensor.ByteLength, tensor.Name, kind);
            buffers.Add(buffer);
            tensor.Slice = buffer.Whole;
            persistentBytes[tensor.Role] = persistentBytes.GetValueOrDefault(tensor.Role) + MemoryPlanner.AlignUp(tensor.ByteLength, alignment);
        }

        MemoryPlanner.Plan plan = MemoryPlanner.PlaceTransients(graph, alignment);
        if (plan.ArenaBytes > 0)
        {
            GpuBuffer arena = context.Memory.Allocate(plan.ArenaBytes, "activation-arena");
            buffers.Add(arena);
            foreach (var (tensor, offset) in plan.Offsets) tensor.Slice = arena.Slice(offset, tensor.ByteLength);
        }
        Memory = new MemoryReport(persistentBytes, plan.ArenaBytes, plan.UnplannedBytes);

        Commands = context.CreateCommandList(profile, maxProfiledCommands: Math.Max(64, graph.Ops.Count * 64));
        foreach (GraphOp op in graph.Ops) op.Record(Commands);
        Commands.End();
    }

    public void Submit() => context.Submit(Commands);

    public void Wait() => context.Wait(Commands);

    public void Run()
    {
        Submit();
        Wait();
    }

    public void Dispose()
    {
        Commands.Dispose();
        foreach (GpuBuffer buffer in buffers) buffer.Dispose();
    }
}

/// <summary>Device memory a compiled graph needs, by kind.</summary>
public sealed record MemoryReport(IReadOnlyDictionary<TensorRole, long> PersistentBytes, long ArenaBytes, long UnplannedTransientBytes)
{
    public long TotalBytes => PersistentBytes.Values.Sum() + ArenaBytes;
    public long Bytes(TensorRole role) => PersistentBytes.GetValueOrDefault(role);
}
