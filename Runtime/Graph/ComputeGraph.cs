namespace VkDiffusion.Runtime.Graph;

/// <summary>
/// An ordered list of ops over tensors: the forward pass, then (appended by <see cref="Tape"/>) the
/// backward pass, then the optimizer update. Compiled once per shape by <see cref="CompiledGraph"/>.
/// </summary>
public sealed class ComputeGraph
{
    private readonly List<Tensor> tensors = [];
    private readonly List<GraphOp> ops = [];

    public IReadOnlyList<Tensor> Tensors => tensors;
    public IReadOnlyList<GraphOp> Ops => ops;

    public Tensor NewTensor(string name, TensorRole role, params int[] shape) => NewTensor(name, role, ElementType.Float32, shape);

    public Tensor NewTensor(string name, TensorRole role, ElementType type, params int[] shape)
    {
        if (shape.Any(dimension => dimension <= 0))
            throw new ArgumentException($"tensor {name} has an impossible shape [{string.Join(", ", shape)}]");
        var tensor = new Tensor(tensors.Count, name, shape, type, role, 0);
        tensors.Add(tensor);
        return tensor;
    }

    /// <summary>A transient byte buffer for an op's private scratch space.</summary>
    public Tensor NewScratch(string name, long byteLength)
    {
        var tensor = new Tensor(tensors.Count, name, [1], ElementType.Float32, TensorRole.Transient, Math.Max(0, byteLength - 4));
        tensors.Add(tensor);
        return tensor;
    }

    /// <summary>A tensor that shares <paramref name="storage"/>'s memory under another name and shape.</summary>
    public Tensor NewAlias(string name, Tensor storage, params int[] shape)
    {
        var tensor = new Tensor(tensors.Count, name, shape, storage.Type, storage.Role, 0);
        if (tensor.ByteLength > storage.ByteLength) throw new ArgumentException($"alias {name} is larger than {storage.Name}");
        tensor.AliasOf = storage;
        tensors.Add(tensor);
        return tensor;
    }

    public void Add(string name, IReadOnlyList<Tensor> reads, IReadOnlyList<Tensor> writes, Action<Vulkan.CommandList> record) =>
        ops.Add(new GraphOp(name, reads, writes, record));

    /// <summary>Adds an op before the op now at <paramref name="index"/> (an op that must run between two already there).</summary>
    public GraphOp Insert(int index, string name, IReadOnlyList<Tensor> reads, IReadOnlyList<Tensor> writes, Action<Vulkan.CommandList> record)
    {
        var op = new GraphOp(name, reads, writes, record);
        ops.Insert(index, op);
        return op;
    }
}
