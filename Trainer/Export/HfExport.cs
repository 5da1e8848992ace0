using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using VkDiffusion.Model;
using VkDiffusion.Trainer.Checkpoints;

namespace VkDiffusion.Trainer.Export;

/// <summary>
/// A vkdiff model as a Hugging Face model directory: config.json, model.safetensors (Llama tensor names and shapes,
/// q/k/v and gate/up separate, no lm_head: the embedding is tied), generation_config.json, tokenizer.json and
/// tokenizer_config.json.
/// </summary>
public static class HfExport
{
    public const string WeightsFileName = "model.safetensors";
    public const string GenerationConfigFileName = "generation_config.json";

    // Token strings stay readable (GPT-2's 'Ġthe', '<|mask|>') instead of \u-escaped; the files are JSON, never HTML.
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Writes the files into <paramref name="directory"/>, which exists and is empty.</summary>
    public static void Write(ExportSource source, ExportDType dtype, string directory)
    {
        VocabularySpec vocabulary = source.Config.Vocabulary;
        var entries = new List<SafeTensorEntry>();
        foreach (LlamaTensor tensor in LlamaLayout.Split(source.Config, source.Parameters))
        {
            ExportDTypes.RequireRepresentable(tensor.Values, dtype, tensor.HfName);
            long[] shape = [.. tensor.Shape.Select(dimension => (long)dimension)];
            entries.Add(SafeTensorEntry.Deferred(tensor.HfName, SafeTensorType(dtype), shape, stream => ExportDTypes.Write(stream, tensor.Values, dtype)));
        }
        // transformers refuses safetensors files whose metadata does not say format "pt".
        CheckpointFile.Write(Path.Combine(directory, WeightsFileName), entries, new Dictionary<string, string> { ["format"] = "pt" });
        WriteJson(directory, HfConfig.FileName, HfConfig.Build(source, dtype));
        var generation = new JsonObject
        {
            ["bos_token_id"] = vocabulary.EndOfDocumentId,
            ["eos_token_id"] = vocabulary.EndOfDocumentId,
            ["pad_token_id"] = vocabulary.EndOfDocumentId,
            ["max_length"] = source.ContextLength,
        };
        if (source.Objective == Objective.Mdm) generation["mask_token_id"] = vocabulary.MaskId;
        WriteJson(directory, GenerationConfigFileName, generation);
        ByteLevelVocabulary tokens = ByteLevelVocabulary.For(vocabulary, source.LearnedTokenizer);
        WriteJson(directory, HfTokenizerFiles.TokenizerFileName, HfTokenizerFiles.Tokenizer(tokens));
        WriteJson(directory, HfTokenizerFiles.ConfigFileName, HfTokenizerFiles.Config(tokens, source.ContextLength));
    }

    public static SafeTensorDType SafeTensorType(ExportDType dtype) => dtype switch
    {
        ExportDType.F32 => SafeTensorDType.F32,
        ExportDType.F16 => SafeTensorDType.F16,
        _ => SafeTensorDType.BF16,
    };

    private static void WriteJson(string directory, string fileName, JsonObject content) =>
        File.WriteAllText(Path.Combine(directory, fileName), content.ToJsonString(Indented) + "\n");
}
