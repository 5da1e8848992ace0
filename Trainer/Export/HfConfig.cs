using System.Text.Json.Nodes;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Export;

/// <summary>
/// config.json of an exported Hugging Face directory, and the model it describes read back. AR: transformers'
/// LlamaForCausalLM config. MDM: a LLaDA config (architectures LLaDAModelLM, the keys LLaDA's own loader reads:
/// d_model, n_heads, n_layers, mlp_hidden_size, mask_token_id, ...) that also carries the Llama keys (hidden_size,
/// num_attention_heads, ...) read by tools that convert LLaDA checkpoints with Llama tensor names, such as llama.cpp's
/// convert_hf_to_gguf.py. Import reads only the Llama keys, so a config edited elsewhere keeps working.
/// </summary>
public static class HfConfig
{
    public const string FileName = "config.json";
    public const string CausalArchitecture = "LlamaForCausalLM";
    public const string DiffusionArchitecture = "LLaDAModelLM";

    public static JsonObject Build(ExportSource source, ExportDType dtype)
    {
        ModelConfig config = source.Config;
        VocabularySpec vocabulary = config.Vocabulary;
        bool diffusion = source.Objective == Objective.Mdm;
        var json = new JsonObject
        {
            ["architectures"] = new JsonArray(diffusion ? DiffusionArchitecture : CausalArchitecture),
            ["model_type"] = diffusion ? "llada" : "llama",
            ["hidden_size"] = config.ModelDim,
            ["intermediate_size"] = config.HiddenDim,
            ["num_hidden_layers"] = config.Layers,
            ["num_attention_heads"] = config.Heads,
            ["num_key_value_heads"] = config.Heads,
            ["head_dim"] = config.HeadDim,
            ["hidden_act"] = "silu",
            ["max_position_embeddings"] = source.ContextLength,
            ["rms_norm_eps"] = config.NormEpsilon,
            ["rope_theta"] = config.RopeTheta,
            ["rope_scaling"] = null,
            ["vocab_size"] = vocabulary.PaddedSize,
            ["tie_word_embeddings"] = true,
            ["attention_bias"] = false,
            ["mlp_bias"] = false,
            ["bos_token_id"] = vocabulary.EndOfDocumentId,
            ["eos_token_id"] = vocabulary.EndOfDocumentId,
            ["torch_dtype"] = TorchName(dtype),
            ["vkdiff_vocabulary"] = vocabulary.Name,
        };
        if (diffusion)
        {
            json["d_model"] = config.ModelDim;
            json["n_heads"] = config.Heads;
            json["n_kv_heads"] = config.Heads;
            json["n_layers"] = config.Layers;
            json["mlp_hidden_size"] = config.HiddenDim;
            json["max_sequence_length"] = source.ContextLength;
            json["embedding_size"] = vocabulary.PaddedSize;
            json["mask_token_id"] = vocabulary.MaskId;
            json["weight_tying"] = true;
            json["include_bias"] = false;
            json["include_qkv_bias"] = false;
            json["activation_type"] = "silu";
            json["block_type"] = "llama";
            json["rope"] = true;
            json["layer_norm_type"] = "rms";
        }
        return json;
    }

    public static string TorchName(ExportDType dtype) => dtype switch
    {
        ExportDType.F32 => "float32",
        ExportDType.F16 => "float16",
        _ => "bfloat16",
    };

    /// <summary>The model and objective a config.json describes; anything vkdiff cannot run is refused, naming the key.</summary>
    public static (ModelConfig Config, Objective Objective) Read(string path)
    {
        JsonObject json;
        try
        {
            json = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidInputException($"{path}: not a JSON object.");
        }
        catch (System.Text.Json.JsonException error)
        {
            throw new InvalidInputException($"{path}: malformed JSON ({error.Message}).", error);
        }
        string architecture = json["architectures"]?.AsArray().FirstOrDefault()?.GetValue<string>() ?? "";
        Objective objective = architecture switch
        {
            CausalArchitecture => Objective.Ar,
            DiffusionArchitecture => Objective.Mdm,
            _ => throw new InvalidInputException($"{path}: architecture '{architecture}' is neither {CausalArchitecture} (AR) nor {DiffusionArchitecture} (MDM)."),
        };
        int Integer(string key) => Value<int>(json, key, path);
        Require(Integer("num_key_value_heads") == Integer("num_attention_heads"), path, "num_key_value_heads differs from num_attention_heads: vkdiff has no grouped-query attention");
        Require(json["tie_word_embeddings"]?.GetValue<bool>() ?? false, path, "tie_word_embeddings is not true: vkdiff's head is the embedding");
        Require(!(json["attention_bias"]?.GetValue<bool>() ?? false) && !(json["mlp_bias"]?.GetValue<bool>() ?? false), path, "vkdiff has no biases");
        Require((json["hidden_act"]?.GetValue<string>() ?? "silu") == "silu", path, "hidden_act is not silu");
        Require(json["rope_scaling"] is null, path, "rope_scaling is set: vkdiff has plain RoPE");
        string vocabularyName = json["vkdiff_vocabulary"]?.GetValue<string>()
            ?? (Integer("vocab_size") == VocabularySpec.Gpt2.PaddedSize ? VocabularySpec.Gpt2.Name : VocabularySpec.Bytes.Name);
        var config = new ModelConfig
        {
            Layers = Integer("num_hidden_layers"),
            ModelDim = Integer("hidden_size"),
            Heads = Integer("num_attention_heads"),
            HeadDim = json["head_dim"] is null ? Integer("hidden_size") / Integer("num_attention_heads") : Integer("head_dim"),
            HiddenDim = Integer("intermediate_size"),
            Vocabulary = VocabularySpec.ByName(vocabularyName),
            RopeTheta = Value<float>(json, "rope_theta", path),
            NormEpsilon = Value<float>(json, "rms_norm_eps", path),
        };
        Require(Integer("vocab_size") == config.Vocabulary.PaddedSize, path, $"vocab_size {Integer("vocab_size")} is not the {vocabularyName} table's {config.Vocabulary.PaddedSize} rows");
        config.Validate();
        return (config, objective);
    }

    private static T Value<T>(JsonObject json, string key, string path)
    {
        try
        {
            return json[key] is JsonNode node ? node.GetValue<T>() : throw new InvalidInputException($"{path}: missing key {key}.");
        }
        catch (Exception error) when (error is FormatException or InvalidOperationException)
        {
            throw new InvalidInputException($"{path}: {key} is not a {typeof(T).Name}.", error);
        }
    }

    private static void Require(bool condition, string path, string reason)
    {
        if (!condition) throw new InvalidInputException($"{path}: {reason}; vkdiff cannot import this model.");
    }
}
