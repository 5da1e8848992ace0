using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Graph;

public enum ElementType
{
    Float32,
    UInt32,
    /// <summary>IEEE half precision (mixed-precision matmul operands).</summary>
    Float16,
    /// <summary>bfloat16: the top 16 bits of an fp32 (mixed-precision matmul operands).</summary>
    BFloat16,
}

/// <summary>
/// What a tensor is for, which decides where the memory planner puts it: persistent tensors keep their
/// own storage for the life of the compiled graph; transient ones share an arena by liveness.
/// </summary>
public enum TensorRole
{
    /// <summary>Model weights (persistent).</summary>
    Parameter,
    /// <summary>Gradients of parameters (persistent: accumulated over micro-batches).</summary>
    ParameterGradient,
    /// <summary>AdamW moments (persistent).</summary>
    OptimizerState,
    /// <summary>16-bit copies of weights that mixed-precision matmuls read (persistent: rewritten with each update).</summary>
    WeightCopy,
    /// <summary>Written by the host before each step (persistent; copied in from host-visible staging at the step's start).</summary>
    HostInput,
    /// <summary>Read by the host after each submission (host-visible, persistent).</summary>
    HostOutput,
    /// <summary>Activations, activation gradients and scratch (transient: planned by liveness).</summary>
    Transient,
    /// <summary>Device-only values that live across steps but are not parameters (persistent).</summary>
    Persistent,
}

/// <summary>A named, shaped range of device memory in a graph. Its storage is assigned when the graph compiles.</summary>
public sealed class Tensor
{
    internal Tensor(int id, string name, int[] shape, ElementType type, TensorRole role, long extraBytes)
    {
        Id = id;
        Name = name;
        Shape = shape;
        Type = type;
        Role = role;
        ByteLength = ElementCount * (type is ElementType.Float16 or ElementType.BFloat16 ? 2 : 4) + extraBytes;
    }

    public int Id { get; }
    public string Name { get; }
    public IReadOnlyList<int> Shape { get; }
    public ElementType Type { get; }
    public TensorRole Role { get; }
    public long ElementCount => Shape.Aggregate(1L, (product, dimension) => product * dimension);
    public long ByteLength { get; }

    /// <summary>When set, this tensor is a view of another tensor's storage (e.g. a gradient passed through a residual add).</summary>
    public Tensor? AliasOf { get; internal set; }

    public Tensor Storage => AliasOf is null ? this : AliasOf.Storage;

    private BufferSlice? slice;

    /// <summary>False for a tensor no op of the compiled graph touches (it gets no memory).</summary>
    public bool HasStorage => Storage.slice is not null;

    /// <summary>The tensor's memory; available once the graph has compiled.</summary>
    public BufferSlice Slice
    {
        get => (Storage.slice ?? throw new InvalidOperationException($"tensor {Name} has no storage yet: compile the graph first")).Slice(0, ByteLength);
        internal set => slice = value;
    }

    public override string ToString() => $"{Name}[{string.Join('x', Shape)}] {Role}";
}
