using VkDiffusion.Runtime.Graph;
using VkDiffusion.Runtime.Kernels;

namespace VkDiffusion.Model;

/// <summary>
/// The 16-bit side of a graph in fp16 or bf16 (PyTorch AMP's sense): matmuls read 16-bit copies of their weights,
/// activations and activation gradients and accumulate in fp32 into fp32 outputs; everything else (master weights,
/// AdamW state, residual stream, norms, softmax, attention, the loss and every gradient sum) stays fp32. A weight's
/// copy is persistent: AdamW writes it with each update (TransformerGraph) and the session casts it whenever the host
/// loads weights (TransformerSession), so no step casts a weight.
/// </summary>
public sealed class MixedPrecision(ComputeGraph graph, Precision precision)
{
    private readonly Dictionary<Tensor, Tensor> weightCopies = [];

    public Precision Precision { get; } = precision;

    /// <summary>False in fp32: matmuls read their fp32 tensors directly.</summary>
    public bool IsActive => Precision != Precision.Fp32;

    private ElementType Storage => Precision == Precision.Fp16 ? ElementType.Float16 : ElementType.BFloat16;

    /// <summary>The weights that have a 16-bit copy, each with its copy (empty in fp32).</summary>
    public IReadOnlyDictionary<Tensor, Tensor> WeightCopies => weightCopies;

    /// <summary>The 16-bit copy of a weight that the matmuls read (the weight itself in fp32).</summary>
    public Tensor Weight(Tensor weight)
    {
        if (!IsActive) return weight;
        if (weightCopies.TryGetValue(weight, out Tensor? copy)) return copy;
        copy = graph.NewTensor(CopyName(weight.Name), TensorRole.WeightCopy, Storage, [.. weight.Shape]);
        weightCopies[weight] = copy;
        return copy;
    }

    /// <summary>The name of a weight's 16-bit copy: sessions sharing weights share copies by it.</summary>
    public string CopyName(string weightName) => $"{Precision.Name()}.{weightName}";

    /// <summary>An activation or activation gradient as the matmuls that read it want it (itself in fp32).</summary>
    public Tensor Operand(string name, Tensor x)
    {
        if (!IsActive) return x;
        Tensor y = NewOperand(name, [.. x.Shape]);
        graph.Add($"cast {name}", [x], [y], c => CastKernels.To16Bit(c, x.Slice, y.Slice, Precision));
        return y;
    }

    /// <summary>A transient 16-bit tensor for operands a caller casts itself (only under mixed precision).</summary>
    public Tensor NewOperand(string name, params int[] shape) =>
        IsActive ? graph.NewTensor($"{name}.{Precision.Name()}", TensorRole.Transient, Storage, shape) : throw new InvalidOperationException("fp32 has no 16-bit operands");
}
