using VkDiffusion.Model;
using VkDiffusion.Runtime.Graph;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Trainer.Porting;

/// <summary>A pipeline some recording asked for, and every configuration that asked.</summary>
public sealed record InventoryEntry(Kernel Kernel, IReadOnlyList<KernelUse> Uses);

/// <summary>A configuration whose graph could not be recorded on the device, and why (a shape beyond its limits, ...).</summary>
public sealed record InventoryGap(KernelUse Use, string Reason);

/// <summary>Every pipeline vkdiff would build on a device, the configurations it could not record, and the vocabularies recorded.</summary>
public sealed record Inventory(IReadOnlyList<InventoryEntry> Entries, IReadOnlyList<InventoryGap> Gaps, int ConfigurationCount,
    IReadOnlyList<string> Vocabularies);

/// <summary>
/// Finds every pipeline vkdiff would use on a device by recording, on a compile-only context, the very graphs training,
/// evaluation and sampling record: each model preset with bytes, GPT-2, a learned BPE for each cross-entropy kernel a
/// vocabulary's size can choose and any vocabulary asked for (see <see cref="Vocabularies"/>), both objectives and every precision the
/// device supports, at the default run shapes (training and evaluation: <see cref="TrainingOptions"/>' batch and sequence
/// length; sampling: one sequence of that length). Training graphs are recorded again under every other matmul path
/// the device can take and under cooperative-matrix attention where the device offers it, as the VKDIFF_MATMUL and
/// VKDIFF_ATTENTION switches would. The kernels come from the dispatchers themselves, so the list cannot drift from them.
/// </summary>
public static class KernelInventory
{
    /// <param name="extraVocabularies">Vocabularies to record besides <see cref="Vocabularies"/>, e.g. the learned BPE a
    /// user trains with: the matmuls' blocking and split-K depend on the vocabulary's size as on any other shape.</param>
    public static Inventory Enumerate(GpuContext context, IReadOnlyList<VocabularySpec>? extraVocabularies = null)
    {
        if (!context.CompileOnly) throw new ArgumentException("the inventory records on a compile-only context", nameof(context));
        var uses = new Dictionary<Kernel, List<KernelUse>>();
        var gaps = new List<InventoryGap>();
        int configurations = 0;
        List<VocabularySpec> vocabularies = [.. Vocabularies(context.Info).Concat(extraVocabularies ?? []).DistinctBy(vocabulary => vocabulary.Name)];
        foreach (KernelUse use in Configurations(context, vocabularies))
        {
            configurations++;
            try
            {
                foreach (Kernel kernel in KernelsOf(context, use).Distinct())
                {
                    if (!uses.TryGetValue(kernel, out List<KernelUse>? list)) uses[kernel] = list = [];
                    list.Add(use);
                }
            }
            // A shape beyond the device's limits (a binding above maxStorageBufferRange, a grid too large). A bad switch or
            // any other error of vkdiff's own is not a gap: it ends the command as it would end a run.
            catch (Exception error) when (error is ArgumentException or BindingRangeException)
            {
                gaps.Add(new InventoryGap(use, error.Message));
            }
        }
        var entries = uses.Select(pair => new InventoryEntry(pair.Key, pair.Value))
            .OrderBy(entry => entry.Kernel.Name, StringComparer.Ordinal)
            .ThenBy(entry => string.Join(',', entry.Kernel.Specialization), StringComparer.Ordinal)
            .ToList();
        return new Inventory(entries, gaps, configurations, [.. vocabularies.Select(vocabulary => vocabulary.Name)]);
    }

    /// <summary>
    /// Bytes, GPT-2, and for every other way the cross-entropy kernels split a logits row on this device (lanes per row,
    /// a spec constant set by the vocabulary's size) the smallest learned BPE (`prepare --tokenizer bpeN`) that takes it.
    /// The matmuls of the embedding and the head choose their blocking and split-K by the vocabulary's size too, as by
    /// any shape, so a learned BPE of another size may ask for a matmul specialization these do not: record it as well
    /// (the extra vocabularies of <see cref="Enumerate"/>).
    /// </summary>
    private static IReadOnlyList<VocabularySpec> Vocabularies(DeviceInfo device)
    {
        List<VocabularySpec> vocabularies = [VocabularySpec.Bytes, VocabularySpec.Gpt2];
        var lanesTaken = vocabularies.Select(vocabulary => CrossEntropyKernels.LanesPerRow(device, vocabulary.PaddedSize)).ToHashSet();
        for (int size = VocabularySpec.MinLearnedBpeSize; size <= VocabularySpec.MaxLearnedBpeSize; size++)
        {
            VocabularySpec learned = VocabularySpec.LearnedBpe(size);
            if (lanesTaken.Add(CrossEntropyKernels.LanesPerRow(device, learned.PaddedSize))) vocabularies.Add(learned);
        }
        return vocabularies;
    }

    private static IEnumerable<KernelUse> Configurations(GpuContext context, IReadOnlyList<VocabularySpec> vocabularies)
    {
        DeviceInfo device = context.Info;
        Precision[] precisions = [.. Enum.GetValues<Precision>().Where(precision => PrecisionFormat.MissingFeature(precision, device) is null)];
        MatmulPath[] matmulPaths = [.. Enum.GetValues<MatmulPath>()
            .Where(path => path != MatmulPath.CooperativeMatrix || MatmulKernels.CooperativeMatrixTile(context, out _) is not null)];
        foreach (string preset in ModelPresets.Names)
            foreach (VocabularySpec vocabulary in vocabularies)
                foreach (Precision precision in precisions)
                    foreach (Objective objective in Enum.GetValues<Objective>())
                    {
                        foreach (GraphMode mode in Enum.GetValues<GraphMode>())
                            yield return new KernelUse(preset, vocabulary.Name, objective, mode, precision, KernelUse.DefaultPath, KernelUse.DefaultPath);
                        foreach (MatmulPath path in matmulPaths)
                            yield return new KernelUse(preset, vocabulary.Name, objective, GraphMode.Train, precision, MatmulKernels.PathName(path),
                                KernelUse.DefaultPath);
                        int headDim = ModelPresets.Get(preset, vocabulary).HeadDim;
                        if (AttentionKernels.CooperativeMatrixBlocks(context, headDim, out _) is not null)
                            yield return new KernelUse(preset, vocabulary.Name, objective, GraphMode.Train, precision, KernelUse.DefaultPath,
                                AttentionKernels.PathName(AttentionPath.CooperativeMatrix));
                    }
    }

    /// <summary>The kernels one configuration's graph dispatches, recorded as a run records it (on a compile-only context).</summary>
    private static IReadOnlyList<Kernel> KernelsOf(GpuContext context, KernelUse use)
    {
        ModelConfig config = ModelPresets.Get(use.Preset, VocabularySpec.ByName(use.Vocabulary));
        var defaults = new TrainingOptions { Model = config, DataDirectory = "" };
        int batch = use.Mode == GraphMode.Logits ? 1 : defaults.BatchSize;
        using IDisposable? matmul = use.MatmulPath == KernelUse.DefaultPath ? null : MatmulKernels.Override(ParseMatmulPath(use.MatmulPath));
        using IDisposable? attention = use.AttentionPath == KernelUse.DefaultPath ? null : AttentionKernels.Override(AttentionPath.CooperativeMatrix);
        TransformerGraph graph = TransformerGraph.Build(config, use.Objective, use.Mode, batch, defaults.SequenceLength, context.Info, precision: use.Precision);
        using var compiled = new CompiledGraph(context, graph.Graph);
        return compiled.Stages.SelectMany(stage => stage.DispatchedKernels).ToList();
    }

    private static MatmulPath ParseMatmulPath(string name) =>
        Enum.GetValues<MatmulPath>().First(path => MatmulKernels.PathName(path) == name);
}
