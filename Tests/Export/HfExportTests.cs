using System.Text.Json.Nodes;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Tests.Runtime;
using VkDiffusion.Trainer.Checkpoints;
using VkDiffusion.Trainer.Export;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Tests.Export;

/// <summary>
/// `vkdiff export --format hf` against the published Hugging Face Llama conventions (no transformers package is served
/// here to load it), and `vkdiff import --hf` back to bit-identical weights.
/// </summary>
public sealed class HfExportTests : IDisposable
{
    private readonly TemporaryDirectory directory = new();

    private string Export(string checkpoint, string dtype = "f32")
    {
        string output = directory.File($"hf-{Path.GetFileNameWithoutExtension(checkpoint)}-{dtype}");
        var (exitCode, _, error) = CliErrorTests.RunVkdiff(null, "export", "--checkpoint", checkpoint, "--format", "hf", "--dtype", dtype, "--out", output);
        Assert.True(exitCode == 0, error);
        return output;
    }

    private static JsonObject ReadJson(string path) => JsonNode.Parse(File.ReadAllText(path))!.AsObject();

    [Theory]
    [InlineData("ar")]
    [InlineData("mdm")]
    public void The_hf_directory_has_llamas_names_shapes_and_config(string objectiveName)
    {
        Objective objective = objectiveName == "ar" ? Objective.Ar : Objective.Mdm;
        string checkpoint = ExportTestModels.Write(directory.File(objectiveName + ".safetensors"), objective);
        string output = Export(checkpoint);
        Assert.Equal(["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"],
            Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.False(Directory.Exists(output + ".tmp"));

        // transformers' LlamaConfig keys (d 32, 2 heads of 16, MLP 64, 2 layers, the byte table of 320 rows, tied head).
        JsonObject config = ReadJson(Path.Combine(output, "config.json"));
        Assert.Equal(objective == Objective.Ar ? "LlamaForCausalLM" : "LLaDAModelLM", config["architectures"]![0]!.GetValue<string>());
        Assert.Equal(32, config["hidden_size"]!.GetValue<int>());
        Assert.Equal(64, config["intermediate_size"]!.GetValue<int>());
        Assert.Equal(2, config["num_hidden_layers"]!.GetValue<int>());
        Assert.Equal(2, config["num_attention_heads"]!.GetValue<int>());
        Assert.Equal(2, config["num_key_value_heads"]!.GetValue<int>());
        Assert.Equal(16, config["head_dim"]!.GetValue<int>());
        Assert.Equal(320, config["vocab_size"]!.GetValue<int>());
        Assert.Equal(1e-6f, config["rms_norm_eps"]!.GetValue<float>());
        Assert.Equal(5000f, config["rope_theta"]!.GetValue<float>());
        Assert.Equal("silu", config["hidden_act"]!.GetValue<string>());
        Assert.True(config["tie_word_embeddings"]!.GetValue<bool>());
        if (objective == Objective.Mdm)
        {
            // LLaDA's own config keys, and its mask token: 257 in the byte vocabulary.
            Assert.Equal(32, config["d_model"]!.GetValue<int>());
            Assert.Equal(2, config["n_layers"]!.GetValue<int>());
            Assert.Equal(64, config["mlp_hidden_size"]!.GetValue<int>());
            Assert.Equal(257, config["mask_token_id"]!.GetValue<int>());
            Assert.True(config["weight_tying"]!.GetValue<bool>());
        }
        Assert.Equal(256, ReadJson(Path.Combine(output, "generation_config.json"))["eos_token_id"]!.GetValue<int>());

        using SafeTensorsFile original = SafeTensorsFile.Open(checkpoint);
        using SafeTensorsFile weights = SafeTensorsFile.Open(Path.Combine(output, "model.safetensors"));
        Assert.Equal("pt", weights.Metadata["format"]);
        var expectedShapes = new Dictionary<string, long[]> { ["model.embed_tokens.weight"] = [320, 32], ["model.norm.weight"] = [32] };
        for (int layer = 0; layer < 2; layer++)
        {
            string prefix = $"model.layers.{layer}.";
            expectedShapes[prefix + "input_layernorm.weight"] = [32];
            expectedShapes[prefix + "post_attention_layernorm.weight"] = [32];
            foreach (string projection in new[] { "q_proj", "k_proj", "v_proj", "o_proj" }) expectedShapes[prefix + "self_attn." + projection + ".weight"] = [32, 32];
            expectedShapes[prefix + "mlp.gate_proj.weight"] = [64, 32];
            expectedShapes[prefix + "mlp.up_proj.weight"] = [64, 32];
            expectedShapes[prefix + "mlp.down_proj.weight"] = [32, 64];

            // q, k, v are the fused projection's row blocks in order; gate and up the fused MLP's; no rows reordered.
            float[] qkv = original.Read<float>(ModelParameters.QkvProjection(layer)), gateUp = original.Read<float>(ModelParameters.GateUpProjection(layer));
            Assert.Equal(qkv[..1024], weights.Read<float>(prefix + "self_attn.q_proj.weight"));
            Assert.Equal(qkv[1024..2048], weights.Read<float>(prefix + "self_attn.k_proj.weight"));
            Assert.Equal(qkv[2048..], weights.Read<float>(prefix + "self_attn.v_proj.weight"));
            Assert.Equal(gateUp[..2048], weights.Read<float>(prefix + "mlp.gate_proj.weight"));
            Assert.Equal(gateUp[2048..], weights.Read<float>(prefix + "mlp.up_proj.weight"));
        }
        Assert.Equal(expectedShapes.Keys.Order(StringComparer.Ordinal), weights.Tensors.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, shape) in expectedShapes)
        {
            Assert.Equal(shape, weights.Info(name).Shape);
            Assert.Equal(SafeTensorDType.F32, weights.Info(name).DType);
        }
    }

    [Theory]
    [InlineData("bytes")]
    [InlineData("gpt2")]
    [InlineData(ExportTestModels.LearnedVocabularyName)]
    public void The_tokenizer_json_maps_gpt2_byte_characters_to_vkdiffs_ids(string vocabularyName)
    {
        string output = Export(ExportTestModels.Write(directory.File(vocabularyName + ".safetensors"), Objective.Mdm, vocabularyName));
        JsonObject tokenizer = ReadJson(Path.Combine(output, "tokenizer.json"));
        JsonObject vocabulary = tokenizer["model"]!["vocab"]!.AsObject();
        JsonArray merges = tokenizer["model"]!["merges"]!.AsArray();
        VocabularySpec spec = VocabularySpec.ByName(vocabularyName);
        Assert.Equal(spec.PaddedSize, vocabulary.Count);
        // GPT-2's byte-to-character table prints a space as 'Ġ' (U+0120) and a newline as 'Ċ' (U+010A).
        if (vocabularyName == "bytes")
        {
            Assert.Equal(32, vocabulary["Ġ"]!.GetValue<int>());
            Assert.Equal(10, vocabulary["Ċ"]!.GetValue<int>());
            Assert.Equal(65, vocabulary["A"]!.GetValue<int>());
            Assert.Equal(0xC3, vocabulary["Ã"]!.GetValue<int>());
            Assert.Empty(merges);
        }
        else if (vocabularyName == ExportTestModels.LearnedVocabularyName)
        {
            // Every learned token under its byte-level spelling at its id, and one merge per token longer than a byte.
            IReadOnlyList<byte[]> learned = ExportTestModels.Learned.TokenBytes;
            for (int id = 0; id < learned.Count; id++) Assert.Equal(id, vocabulary[ByteLevelVocabulary.ToByteLevel(learned[id])]!.GetValue<int>());
            Assert.Equal(learned.Count(token => token.Length > 1), merges.Count);
        }
        else
        {
            // Ids of GPT-2's published vocabulary; its merges.txt has 50000 merges, the first "Ġ t".
            Assert.Equal(262, vocabulary["Ġthe"]!.GetValue<int>());
            Assert.Equal(198, vocabulary["Ċ"]!.GetValue<int>());
            Assert.Equal(50000, merges.Count);
            Assert.Equal("Ġ t", merges[0]!.GetValue<string>());
        }
        var special = tokenizer["added_tokens"]!.AsArray().Select(token => token!["id"]!.GetValue<int>()).ToArray();
        Assert.Equal(Enumerable.Range(spec.EndOfDocumentId, spec.PaddedSize - spec.EndOfDocumentId), special);
        Assert.Equal("<|mask|>", ReadJson(Path.Combine(output, "tokenizer_config.json"))["mask_token"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("ar", "f32")]
    [InlineData("mdm", "f32")]
    [InlineData("mdm", "f16")]
    [InlineData("ar", "bf16")]
    [InlineData("mdm", "f32", ExportTestModels.LearnedVocabularyName)]
    public void Import_turns_the_hf_export_back_into_the_same_weights(string objectiveName, string dtype, string vocabularyName = "bytes")
    {
        Objective objective = objectiveName == "ar" ? Objective.Ar : Objective.Mdm;
        string checkpoint = ExportTestModels.Write(directory.File($"{objectiveName}-{vocabularyName}.safetensors"), objective, vocabularyName);
        string imported = directory.File($"imported-{objectiveName}-{dtype}-{vocabularyName}.safetensors");
        var (exitCode, _, error) = CliErrorTests.RunVkdiff(null, "import", "--hf", Export(checkpoint, dtype), "--out", imported);
        Assert.True(exitCode == 0, error);

        using RunCheckpoint.Loaded original = RunCheckpoint.Open(checkpoint);
        using RunCheckpoint.Loaded back = RunCheckpoint.Open(imported);
        Assert.Equal(original.Config, back.Config);
        Assert.Equal(objective, back.Objective);
        // A learned vocabulary comes back from tokenizer.json, so the imported model decodes as the original did.
        Assert.Equal(ExportTestModels.Tokenizer(vocabularyName).Encode(TinyTrainedModel.SampleText), back.CreateTokenizer().Encode(TinyTrainedModel.SampleText));
        Dictionary<string, float[]> originalWeights = original.ReadParameters(), importedWeights = back.ReadParameters();
        Assert.Equal(originalWeights.Keys.Order(), importedWeights.Keys.Order());
        foreach (var (name, values) in originalWeights)
        {
            // f32 comes back bit for bit; f16 and bf16 as each weight's nearest 16-bit value, widened exactly.
            float[] expected = dtype == "f32" ? values : SixteenBitReference.Round(values, dtype == "f16" ? Precision.Fp16 : Precision.Bf16);
            Assert.True(expected.Select(BitConverter.SingleToInt32Bits).SequenceEqual(importedWeights[name].Select(BitConverter.SingleToInt32Bits)), $"{name} differs after the round trip");
        }
    }

    public void Dispose() => directory.Dispose();
}
