using VkDiffusion.Model;

namespace VkDiffusion.Trainer.Export;

/// <summary>What role a tensor of the Llama layout plays, which decides how an export stores it.</summary>
public enum LlamaTensorRole
{
    Matrix,
    /// <summary>Q or K: rows rotated by RoPE, whose pairing a format may lay out differently.</summary>
    RotaryProjection,
    /// <summary>An RMSNorm weight: kept in f32 in every export.</summary>
    Norm,
}

/// <summary>One weight of the Llama layout: its Hugging Face name, its llama.cpp GGUF name, [out, in] shape and values.</summary>
public sealed record LlamaTensor(string HfName, string GgufName, int[] Shape, float[] Values, LlamaTensorRole Role);

/// <summary>
/// vkdiff's weights in the layout Hugging Face Llama and llama.cpp use: the fused QKV projection split into q, k and v
/// (rows 0..d-1, d..2d-1, 2d..3d-1), the fused gate/up into gate and up (rows 0..f-1, f..2f-1), everything else as it
/// is. Both layouts keep RoPE's rotate-half pairing within each head, so rows are copied, never reordered; the head is
/// tied to the embedding in both, so there is no separate output matrix.
/// </summary>
public static class LlamaLayout
{
    public const string HfEmbedding = "model.embed_tokens.weight";

    public static IReadOnlyList<LlamaTensor> Split(ModelConfig config, IReadOnlyDictionary<string, float[]> parameters)
    {
        int d = config.ModelDim, f = config.HiddenDim;
        var tensors = new List<LlamaTensor>
        {
            new(HfEmbedding, "token_embd.weight", [config.Vocabulary.PaddedSize, d], parameters[ModelParameters.Embedding], LlamaTensorRole.Matrix),
        };
        for (int layer = 0; layer < config.Layers; layer++)
        {
            string hf = $"model.layers.{layer}.", gguf = $"blk.{layer}.";
            float[] qkv = parameters[ModelParameters.QkvProjection(layer)], gateUp = parameters[ModelParameters.GateUpProjection(layer)];
            tensors.Add(new(hf + "input_layernorm.weight", gguf + "attn_norm.weight", [d], parameters[ModelParameters.InputNorm(layer)], LlamaTensorRole.Norm));
            tensors.Add(new(hf + "self_attn.q_proj.weight", gguf + "attn_q.weight", [d, d], Rows(qkv, d, 0, d), LlamaTensorRole.RotaryProjection));
            tensors.Add(new(hf + "self_attn.k_proj.weight", gguf + "attn_k.weight", [d, d], Rows(qkv, d, d, d), LlamaTensorRole.RotaryProjection));
            tensors.Add(new(hf + "self_attn.v_proj.weight", gguf + "attn_v.weight", [d, d], Rows(qkv, d, 2 * d, d), LlamaTensorRole.Matrix));
            tensors.Add(new(hf + "self_attn.o_proj.weight", gguf + "attn_output.weight", [d, d], parameters[ModelParameters.OutputProjection(layer)], LlamaTensorRole.Matrix));
            tensors.Add(new(hf + "post_attention_layernorm.weight", gguf + "ffn_norm.weight", [d], parameters[ModelParameters.PostAttentionNorm(layer)], LlamaTensorRole.Norm));
            tensors.Add(new(hf + "mlp.gate_proj.weight", gguf + "ffn_gate.weight", [f, d], Rows(gateUp, d, 0, f), LlamaTensorRole.Matrix));
            tensors.Add(new(hf + "mlp.up_proj.weight", gguf + "ffn_up.weight", [f, d], Rows(gateUp, d, f, f), LlamaTensorRole.Matrix));
            tensors.Add(new(hf + "mlp.down_proj.weight", gguf + "ffn_down.weight", [d, f], parameters[ModelParameters.DownProjection(layer)], LlamaTensorRole.Matrix));
        }
        tensors.Add(new("model.norm.weight", "output_norm.weight", [d], parameters[ModelParameters.FinalNorm], LlamaTensorRole.Norm));
        return tensors;
    }

    /// <summary>
    /// The inverse of <see cref="Split"/>: vkdiff's parameters from the Llama tensors <paramref name="readHf"/> returns by
    /// Hugging Face name, the fused matrices concatenated row block after row block.
    /// </summary>
    public static Dictionary<string, float[]> Join(ModelConfig config, Func<string, float[]> readHf)
    {
        var parameters = new Dictionary<string, float[]> { [ModelParameters.Embedding] = readHf(HfEmbedding) };
        for (int layer = 0; layer < config.Layers; layer++)
        {
            string hf = $"model.layers.{layer}.";
            parameters[ModelParameters.InputNorm(layer)] = readHf(hf + "input_layernorm.weight");
            parameters[ModelParameters.QkvProjection(layer)] =
                [.. readHf(hf + "self_attn.q_proj.weight"), .. readHf(hf + "self_attn.k_proj.weight"), .. readHf(hf + "self_attn.v_proj.weight")];
            parameters[ModelParameters.OutputProjection(layer)] = readHf(hf + "self_attn.o_proj.weight");
            parameters[ModelParameters.PostAttentionNorm(layer)] = readHf(hf + "post_attention_layernorm.weight");
            parameters[ModelParameters.GateUpProjection(layer)] = [.. readHf(hf + "mlp.gate_proj.weight"), .. readHf(hf + "mlp.up_proj.weight")];
            parameters[ModelParameters.DownProjection(layer)] = readHf(hf + "mlp.down_proj.weight");
        }
        parameters[ModelParameters.FinalNorm] = readHf("model.norm.weight");
        return parameters;
    }

    private static float[] Rows(float[] matrix, int columns, int firstRow, int rowCount) =>
        matrix.AsSpan(firstRow * columns, rowCount * columns).ToArray();
}
