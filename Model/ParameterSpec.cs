namespace VkDiffusion.Model;

/// <summary>One weight tensor: its Llama-style checkpoint name, shape, init standard deviation and decay flag.</summary>
public sealed record ParameterSpec(string Name, int[] Shape, float InitStd, bool IsNormWeight)
{
    public long ElementCount => Shape.Aggregate(1L, (product, dimension) => product * dimension);

    /// <summary>Weight decay applies to 2-D weights only (embeddings included, norms excluded; PAPER §4).</summary>
    public bool WeightDecay => Shape.Length == 2;
}

/// <summary>The model's weight tensors in checkpoint order, and their initial values (PAPER §1).</summary>
public static class ModelParameters
{
    public const string Embedding = "model.embed_tokens.weight";
    public const string FinalNorm = "model.norm.weight";

    public static string InputNorm(int layer) => $"model.layers.{layer}.input_layernorm.weight";
    public static string QkvProjection(int layer) => $"model.layers.{layer}.self_attn.qkv_proj.weight";
    public static string OutputProjection(int layer) => $"model.layers.{layer}.self_attn.o_proj.weight";
    public static string PostAttentionNorm(int layer) => $"model.layers.{layer}.post_attention_layernorm.weight";
    public static string GateUpProjection(int layer) => $"model.layers.{layer}.mlp.gate_up_proj.weight";
    public static string DownProjection(int layer) => $"model.layers.{layer}.mlp.down_proj.weight";
    public static string FirstMoment(string parameter) => "optimizer.exp_avg." + parameter;
    public static string SecondMoment(string parameter) => "optimizer.exp_avg_sq." + parameter;

    public static IReadOnlyList<ParameterSpec> Specs(ModelConfig config)
    {
        int d = config.ModelDim, f = config.HiddenDim;
        float std = config.InitStd;
        // Output projections of each residual branch are scaled down by sqrt(2 * layers) (PAPER §1).
        float outputStd = std / MathF.Sqrt(2f * config.Layers);
        var specs = new List<ParameterSpec> { new(Embedding, [config.Vocabulary.PaddedSize, d], std, false) };
        for (int layer = 0; layer < config.Layers; layer++)
        {
            specs.Add(new(InputNorm(layer), [d], 0, true));
            specs.Add(new(QkvProjection(layer), [3 * d, d], std, false));
            specs.Add(new(OutputProjection(layer), [d, d], outputStd, false));
            specs.Add(new(PostAttentionNorm(layer), [d], 0, true));
            specs.Add(new(GateUpProjection(layer), [2 * f, d], std, false));
            specs.Add(new(DownProjection(layer), [d, f], outputStd, false));
        }
        specs.Add(new(FinalNorm, [d], 0, true));
        return specs;
    }

    /// <summary>Initial values: N(0, std) from a seeded generator for weights, ones for norm weights.</summary>
    public static Dictionary<string, float[]> Initialize(ModelConfig config, int seed)
    {
        var random = new Random(seed);
        var values = new Dictionary<string, float[]>();
        foreach (ParameterSpec spec in Specs(config))
        {
            var data = new float[spec.ElementCount];
            if (spec.IsNormWeight) Array.Fill(data, 1f);
            else
                for (int i = 0; i < data.Length; i++) data[i] = spec.InitStd * StandardNormal(random);
            values[spec.Name] = data;
        }
        return values;
    }

    private static float StandardNormal(Random random)
    {
        double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
        return (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }
}
