using VkDiffusion.Runtime.Kernels;

namespace VkDiffusion.Runtime.Graph;

/// <summary>
/// Reverse-mode autograd over a <see cref="ComputeGraph"/>. Each forward op registers how to append its
/// backward ops; <see cref="AppendBackward"/> runs those in reverse order. The tape tracks which
/// gradients already hold a contribution, so the first writer overwrites and later ones accumulate;
/// parameter gradients always accumulate (they are zeroed once per optimizer step, which is what
/// makes gradient accumulation over micro-batches work).
/// </summary>
public sealed class Tape(ComputeGraph graph)
{
    private readonly List<Action> backwardSteps = [];
    private readonly Dictionary<Tensor, Tensor> gradients = [];
    private readonly Dictionary<Tensor, Tensor> parameterGradients = [];

    public ComputeGraph Graph { get; } = graph;

    public void RegisterParameter(Tensor parameter, Tensor gradient)
    {
        if (parameter.Role != TensorRole.Parameter || gradient.Role != TensorRole.ParameterGradient)
            throw new ArgumentException($"{parameter.Name}/{gradient.Name}: not a parameter and its gradient");
        parameterGradients[parameter] = gradient;
    }

    /// <summary>Registers the step that appends the backward ops of the forward op just added.</summary>
    public void OnBackward(Action appendBackwardOps) => backwardSteps.Add(appendBackwardOps);

    public bool RequiresGradient(Tensor tensor) => tensor.Role is TensorRole.Parameter or TensorRole.Transient && tensor.Type == ElementType.Float32
        && (tensor.Role != TensorRole.Parameter || parameterGradients.ContainsKey(tensor));

    /// <summary>The complete gradient of <paramref name="tensor"/>; valid when every later op's backward has been appended.</summary>
    public Tensor GradientOf(Tensor tensor) =>
        parameterGradients.TryGetValue(tensor, out Tensor? parameterGradient) ? parameterGradient
        : gradients.TryGetValue(tensor, out Tensor? gradient) ? gradient
        : throw new InvalidOperationException($"{tensor.Name} received no gradient: it does not influence the loss");

    public bool HasGradient(Tensor tensor) => parameterGradients.ContainsKey(tensor) || gradients.ContainsKey(tensor);

    /// <summary>
    /// Where a backward op writes its contribution to <paramref name="tensor"/>'s gradient, and whether it
    /// must add to what is there.
    /// </summary>
    public (Tensor Gradient, bool Accumulate) Contribute(Tensor tensor)
    {
        if (parameterGradients.TryGetValue(tensor, out Tensor? parameterGradient)) return (parameterGradient, true);
        if (gradients.TryGetValue(tensor, out Tensor? existing)) return (existing, true);
        Tensor created = Graph.NewTensor("d_" + tensor.Name, TensorRole.Transient, [.. tensor.Shape]);
        gradients[tensor] = created;
        return (created, false);
    }

    /// <summary>
    /// Passes <paramref name="gradient"/> unchanged to <paramref name="tensor"/> (the backward of y = x + f(x)
    /// for x): the first time by sharing its memory, later by adding it.
    /// </summary>
    public void PassThrough(Tensor tensor, Tensor gradient)
    {
        if (parameterGradients.ContainsKey(tensor) || gradients.ContainsKey(tensor))
        {
            var (target, _) = Contribute(tensor);
            Graph.Add($"accumulate d_{tensor.Name}", [gradient, target], [target],
                commands => BasicKernels.Add(commands, target.Slice, gradient.Slice, target.Slice));
            return;
        }
        gradients[tensor] = Graph.NewAlias("d_" + tensor.Name, gradient, [.. tensor.Shape]);
    }

    /// <summary>Seeds the gradient of a tensor (e.g. when the loss op produced it already) and appends every backward op.</summary>
    public void AppendBackward()
    {
        for (int step = backwardSteps.Count - 1; step >= 0; step--) backwardSteps[step]();
        backwardSteps.Clear();
    }

    /// <summary>Makes <paramref name="tensor"/>'s gradient exactly <paramref name="gradient"/> (the fused loss computes it during the forward pass).</summary>
    public void SeedGradient(Tensor tensor, Tensor gradient)
    {
        if (gradients.ContainsKey(tensor)) throw new InvalidOperationException($"{tensor.Name} already has a gradient");
        gradients[tensor] = gradient;
    }
}
