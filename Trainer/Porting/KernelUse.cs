using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;

namespace VkDiffusion.Trainer.Porting;

/// <summary>
/// One configuration whose recording on a device asked for kernels: a model preset and vocabulary, what the graph
/// computes, the matmul precision, and the matmul and attention paths ("default": the device's own choice; otherwise
/// the path forced as VKDIFF_MATMUL / VKDIFF_ATTENTION would force it).
/// </summary>
public sealed record KernelUse(string Preset, string Vocabulary, Objective Objective, GraphMode Mode, Precision Precision, string MatmulPath,
    string AttentionPath)
{
    public const string DefaultPath = "default";

    public override string ToString() =>
        $"{Preset} {Vocabulary} {Objective.ToString().ToLowerInvariant()} {Mode.ToString().ToLowerInvariant()} {Precision.Name()} " +
        $"matmul={MatmulPath} attention={AttentionPath}";
}
