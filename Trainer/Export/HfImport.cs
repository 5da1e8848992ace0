using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;
using System.Text.Json;
using System.Text.Json.Nodes;
using VkDiffusion.Trainer.Checkpoints;
using VkDiffusion.Trainer.Data;

namespace VkDiffusion.Trainer.Export;

/// <summary>
/// A Hugging Face directory in the layout <see cref="HfExport"/> writes (config.json and model.safetensors, perhaps
/// fine-tuned elsewhere) back to vkdiff's parameters. f32 tensors come back bit for bit; f16 and bf16 ones are widened
/// exactly. A tensor vkdiff has no place for, a missing one or a wrong shape is refused, naming it.
/// </summary>
public static class HfImport
{
    /// <param name="LearnedTokenizer">A learned vocabulary (bpeN), rebuilt from tokenizer.json; null for bytes and gpt2.</param>
    public sealed record Imported(ModelConfig Config, Objective Objective, Dictionary<string, float[]> Parameters, BytePairTokenizer? LearnedTokenizer);

    public static Imported Read(string directory)
    {
        string configPath = Path.Combine(directory, HfConfig.FileName), weightsPath = Path.Combine(directory, HfExport.WeightsFileName);
        foreach (string path in new[] { configPath, weightsPath })
            if (!File.Exists(path)) throw new InvalidInputException($"{path} does not exist: not a model directory written by vkdiff export --format hf.");
        (ModelConfig config, Objective objective) = HfConfig.Read(configPath);
        using SafeTensorsFile weights = SafeTensorsFile.Open(weightsPath);
        var expected = LlamaLayout.Split(config, ModelParameters.Specs(config).ToDictionary(spec => spec.Name, spec => new float[spec.ElementCount]))
            .ToDictionary(tensor => tensor.HfName, tensor => tensor.Shape);
        string? unknown = weights.Tensors.Keys.Order(StringComparer.Ordinal).FirstOrDefault(name => !expected.ContainsKey(name));
        if (unknown is not null)
            throw new InvalidInputException($"{weightsPath}: tensor {unknown} has no place in a vkdiff model (an untied lm_head, a bias or another architecture).");
        float[] Read(string name)
        {
            if (!weights.Tensors.TryGetValue(name, out SafeTensorInfo? info)) throw new InvalidInputException($"{weightsPath}: tensor {name} is missing.");
            if (!info.Shape.SequenceEqual(expected[name].Select(dimension => (long)dimension)))
                throw new InvalidInputException($"{weightsPath}: {name} has shape [{string.Join(", ", info.Shape)}] but config.json needs [{string.Join(", ", expected[name])}].");
            float[] values = info.DType switch
            {
                SafeTensorDType.F32 => weights.Read<float>(name),
                SafeTensorDType.F16 => Widen(weights.Read<ushort>(name), Precision.Fp16),
                SafeTensorDType.BF16 => Widen(weights.Read<ushort>(name), Precision.Bf16),
                _ => throw new InvalidInputException($"{weightsPath}: {name} is {info.DType}; vkdiff imports F32, F16 and BF16."),
            };
            if (values.Any(value => !float.IsFinite(value))) throw new InvalidInputException($"{weightsPath}: {name} holds NaN or infinite weights.");
            return values;
        }
        BytePairTokenizer? learned = Tokenizers.LearnedSize(config.Vocabulary.Name) is null ? null : ReadLearnedTokenizer(directory, config.Vocabulary);
        return new Imported(config, objective, LlamaLayout.Join(config, Read), learned);
    }

    /// <summary>A learned vocabulary's ranks from tokenizer.json: the byte-level strings of ids 0..EOD-1, in id order.</summary>
    private static BytePairTokenizer ReadLearnedTokenizer(string directory, VocabularySpec vocabulary)
    {
        string path = Path.Combine(directory, HfTokenizerFiles.TokenizerFileName);
        if (!File.Exists(path)) throw new InvalidInputException($"{path} does not exist: a {vocabulary.Name} model needs its vocabulary, which export writes there.");
        JsonObject? vocab;
        try
        {
            vocab = JsonNode.Parse(File.ReadAllText(path))?["model"]?["vocab"] as JsonObject;
        }
        catch (JsonException error)
        {
            throw new InvalidInputException($"{path} is not valid JSON ({error.Message}).", error);
        }
        if (vocab is null) throw new InvalidInputException($"{path} has no model.vocab.");
        var characterByte = new Dictionary<char, byte>();
        for (int b = 0; b < 256; b++) characterByte[ByteLevelVocabulary.ByteCharacters[b]] = (byte)b;
        var tokens = new byte[vocabulary.EndOfDocumentId][];
        foreach (var (token, idNode) in vocab)
        {
            int id = idNode?.GetValue<int>() ?? -1;
            if (id < 0 || id >= tokens.Length) continue;
            if (!token.All(characterByte.ContainsKey))
                throw new InvalidInputException($"{path}: token {id} \"{token}\" is not byte-level text.");
            tokens[id] = [.. token.Select(character => characterByte[character])];
        }
        int missing = Array.FindIndex(tokens, token => token is null);
        if (missing >= 0) throw new InvalidInputException($"{path}: model.vocab has no token {missing} of the {vocabulary.Name} vocabulary.");
        return BytePairTokenizer.Learned(vocabulary.Name, tokens, path);
    }

    private static float[] Widen(ushort[] bits, Precision precision) => [.. bits.Select(pattern => SixteenBitReference.Decode(pattern, precision))];
}
