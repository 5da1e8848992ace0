using LLama;
using LLama.Common;
using LLama.Native;

namespace VkDiffusion.Tests.Export;

/// <summary>
/// A GGUF file loaded by llama.cpp (through LLamaSharp's CPU backend): its tokenizer, and its logits for a whole
/// token sequence in one batch. Everything that could round differently from the exported weights is kept in f32:
/// the KV cache (f16 by default) and attention (flash attention casts K and V to f16 on the CPU).
/// </summary>
public sealed class LlamaCppModel : IDisposable
{
    private const int ContextSize = 64;

    private static readonly Lazy<bool> QuietLog = new(() =>
    {
        // llama.cpp logs every load at length; the tests need only its results.
        NativeLibraryConfig.All.WithLogCallback((_, _) => { });
        return true;
    });

    private readonly LLamaWeights weights;
    private readonly LLamaContext context;

    public LlamaCppModel(string ggufPath)
    {
        _ = QuietLog.Value;
        var parameters = new ModelParams(ggufPath)
        {
            ContextSize = ContextSize,
            BatchSize = ContextSize,
            // Bidirectional (llada) attention sees the whole sequence only when it is one micro-batch.
            UBatchSize = ContextSize,
            Threads = 2,
            FlashAttention = false,
            TypeK = GGMLType.GGML_TYPE_F32,
            TypeV = GGMLType.GGML_TYPE_F32,
        };
        weights = LLamaWeights.LoadFromFile(parameters);
        context = weights.CreateContext(parameters);
    }

    public bool IsDiffusion => weights.NativeHandle.IsDiffusion;

    public int VocabularySize => weights.NativeHandle.Vocab.Count;

    public string? Metadata(string key) => weights.NativeHandle.MetadataValueByKey(key)?.ToString();

    /// <summary>The ids llama.cpp's tokenizer gives plain text: no BOS added, special-token strings not parsed.</summary>
    public int[] Tokenize(string text) => [.. context.Tokenize(text, addBos: false, special: false).Select(token => (int)token)];

    /// <summary>Logits [tokens.Length, vocabulary] of one sequence at positions 0, 1, ...</summary>
    public float[] Logits(IReadOnlyList<uint> tokens)
    {
        if (tokens.Count > ContextSize) throw new ArgumentException($"at most {ContextSize} tokens", nameof(tokens));
        context.NativeHandle.MemoryClear();
        var batch = new LLamaBatch();
        for (int position = 0; position < tokens.Count; position++) batch.Add((LLamaToken)(int)tokens[position], position, LLamaSeqId.Zero, true);
        DecodeResult result = context.NativeHandle.Decode(batch);
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode returned {result}");
        int vocabulary = VocabularySize;
        var logits = new float[tokens.Count * vocabulary];
        for (int position = 0; position < tokens.Count; position++)
            context.NativeHandle.GetLogitsIth(position).CopyTo(logits.AsSpan(position * vocabulary, vocabulary));
        return logits;
    }

    public void Dispose()
    {
        context.Dispose();
        weights.Dispose();
    }
}
