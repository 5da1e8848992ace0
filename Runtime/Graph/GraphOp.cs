using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Graph;

/// <summary>
/// One node of a graph: records its kernels into a command list. The tensors it reads and writes decide
/// the tensors' lifetimes in the memory plan (the command list inserts barriers from the actual ranges).
/// </summary>
public sealed class GraphOp(string name, IReadOnlyList<Tensor> reads, IReadOnlyList<Tensor> writes, Action<CommandList> record)
{
    public string Name { get; } = name;
    public IReadOnlyList<Tensor> Reads { get; } = reads;
    public IReadOnlyList<Tensor> Writes { get; } = writes;

    public void Record(CommandList commands) => record(commands);

    public override string ToString() => Name;
}
