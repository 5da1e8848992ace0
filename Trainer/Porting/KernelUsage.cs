using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;

namespace VkDiffusion.Trainer.Porting;

/// <summary>The configurations that use one pipeline, folded into the distinct values of each dimension (presets smallest first).</summary>
public sealed record KernelUsage(IReadOnlyList<string> Presets, IReadOnlyList<string> Vocabularies, IReadOnlyList<string> Objectives,
    IReadOnlyList<string> Modes, IReadOnlyList<string> Precisions, IReadOnlyList<string> MatmulPaths, IReadOnlyList<string> AttentionPaths)
{
    public static KernelUsage Of(IReadOnlyList<KernelUse> uses)
    {
        List<string> presetOrder = [.. ModelPresets.Names];
        return new KernelUsage(
            [.. uses.Select(u => u.Preset).Distinct().OrderBy(presetOrder.IndexOf)],
            Distinct(uses.Select(u => u.Vocabulary)),
            Distinct(uses.Select(u => u.Objective.ToString().ToLowerInvariant())),
            Distinct(uses.Select(u => u.Mode.ToString().ToLowerInvariant())),
            [.. uses.Select(u => u.Precision).Distinct().Order().Select(p => p.Name())],
            Distinct(uses.Select(u => u.MatmulPath)),
            Distinct(uses.Select(u => u.AttentionPath)));
    }

    private static List<string> Distinct(IEnumerable<string> values) => [.. values.Distinct().Order(StringComparer.Ordinal)];

    /// <summary>
    /// A short account for a table cell: presets (a range when they follow each other), precisions, the vocabularies of
    /// a pipeline that not all of <paramref name="recordedVocabularies"/> use, and the forced paths of a pipeline that the
    /// device's own choices never use.
    /// </summary>
    public string Summary(IReadOnlyList<string> recordedVocabularies)
    {
        List<string> order = [.. ModelPresets.Names];
        string presets = Presets.Count == order.Count ? "every preset"
            : Presets.Count > 2 && order.IndexOf(Presets[^1]) - order.IndexOf(Presets[0]) == Presets.Count - 1 ? $"{Presets[0]}..{Presets[^1]}"
            : string.Join(',', Presets);
        string summary = $"{presets} {string.Join(',', Precisions)}";
        if (Vocabularies.Count < recordedVocabularies.Count) summary += $" only vocabulary={string.Join(',', Vocabularies)}";
        if (!MatmulPaths.Contains(KernelUse.DefaultPath)) summary += $" only matmul={string.Join(',', MatmulPaths)}";
        if (!AttentionPaths.Contains(KernelUse.DefaultPath)) summary += $" only attention={string.Join(',', AttentionPaths)}";
        return summary;
    }
}
