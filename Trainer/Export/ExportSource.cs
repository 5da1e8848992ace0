using System.Globalization;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Checkpoints;
using VkDiffusion.Trainer.Data;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Trainer.Export;

/// <summary>
/// A checkpoint's weights as an export reads them: only from a format version this vkdiff writes, with every tensor
/// one it knows (a weight or its AdamW moments), each verified against its checksum. Anything else is refused before
/// a byte is written, since a format that silently drops or misreads a tensor would compute something else.
/// </summary>
/// <param name="LearnedTokenizer">A learned vocabulary's tokenizer (bpeN), from the ranks in the checkpoint; null for bytes and gpt2.</param>
public sealed record ExportSource(ModelConfig Config, Objective Objective, int ContextLength, IReadOnlyDictionary<string, float[]> Parameters,
    BytePairTokenizer? LearnedTokenizer = null)
{
    /// <summary>The newest checkpoint format this vkdiff reads.</summary>
    public const int FormatVersion = 1;

    /// <summary>The context length written when the checkpoint does not say which sequence length it was trained on.</summary>
    public const int DefaultContextLength = 2048;

    public static ExportSource Read(string checkpointPath)
    {
        using RunCheckpoint.Loaded checkpoint = RunCheckpoint.Open(checkpointPath);
        if (checkpoint.File.Metadata.TryGetValue(CheckpointMetadataKeys.FormatVersion, out string? versionText)
            && (!int.TryParse(versionText, NumberStyles.None, CultureInfo.InvariantCulture, out int version) || version > FormatVersion))
            throw new InvalidInputException($"{checkpointPath}: checkpoint format version {versionText} is newer than this vkdiff reads ({FormatVersion}); update vkdiff.");
        var known = new HashSet<string>();
        foreach (ParameterSpec spec in ModelParameters.Specs(checkpoint.Config))
            known.UnionWith([spec.Name, ModelParameters.FirstMoment(spec.Name), ModelParameters.SecondMoment(spec.Name)]);
        string? unknown = checkpoint.File.Tensors.Keys.Order(StringComparer.Ordinal).FirstOrDefault(name => !known.Contains(name));
        if (unknown is not null)
            throw new InvalidInputException($"{checkpointPath}: unknown tensor {unknown} (from a newer vkdiff or another tool); refusing to export a model that may compute something else.");
        int contextLength = checkpoint.Options?.SequenceLength ?? DefaultContextLength;
        return new ExportSource(checkpoint.Config, checkpoint.Objective, contextLength, checkpoint.ReadParameters(), checkpoint.LearnedTokenizer());
    }
}
