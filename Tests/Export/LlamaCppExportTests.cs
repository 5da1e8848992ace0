using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Tests.Runtime;
using VkDiffusion.Trainer.Data;
using VkDiffusion.Trainer.Export;
using Xunit.Abstractions;

namespace VkDiffusion.Tests.Export;

/// <summary>
/// llama.cpp (LLamaSharp's CPU build, code no one here wrote) runs models exported by `vkdiff export --format gguf` and
/// must compute vkdiff's logits: AR as `llama` at every position of a sequence, MDM as `llada` at the masked positions
/// of a partly masked one, for both vocabularies, from f32, f16 and bf16 files.
/// </summary>
public sealed class LlamaCppExportTests(GpuFixture fixture, ITestOutputHelper output) : GpuTest(fixture)
{
    /// <summary>
    /// f32: two fp32 implementations of the same forward differ only in summation order and in their exp and rsqrt; over
    /// two layers of width 64 that stays near 1e-6 of the logits' size. 1e-4 of the largest logit (at least 1) leaves a
    /// wide margin (measured: 2e-7 to 6e-7) while still catching a layout error: exported without the RoPE row reordering,
    /// these 5-step models' logits moved by 5e-3 to 8e-3.
    /// </summary>
    private const double Fp32Bound = 1e-4;

    [Theory]
    [InlineData("ar", "bytes")]
    [InlineData("ar", "gpt2")]
    [InlineData("mdm", "bytes")]
    [InlineData("mdm", "gpt2")]
    public void Llama_cpp_computes_vkdiffs_logits_from_the_exported_gguf(string objectiveName, string vocabularyName)
    {
        Objective objective = objectiveName == "ar" ? Objective.Ar : Objective.Mdm;
        using var directory = new TemporaryDirectory();
        string checkpoint = TinyTrainedModel.Train(Context, directory.Path, objective, vocabularyName);
        ExportSource source = ExportSource.Read(checkpoint);
        VocabularySpec vocabulary = source.Config.Vocabulary;
        uint[] tokens = [.. Tokenizers.Create(vocabularyName).Encode(TinyTrainedModel.SampleText).Take(24).Select(id => (uint)id)];
        // MDM: every third position masked, the rest visible context; AR: the plain sequence, every position compared.
        int[] compared = objective == Objective.Ar ? [.. Enumerable.Range(0, tokens.Length)] : [.. Enumerable.Range(0, tokens.Length).Where(i => i % 3 == 1)];
        foreach (int position in objective == Objective.Mdm ? compared : []) tokens[position] = (uint)vocabulary.MaskId;

        float[] fp32 = TinyTrainedModel.Logits(Context, source.Config, objective, source.Parameters, tokens, Precision.Fp32);
        double scale = Math.Max(1, compared.Max(position => MaxAbs(fp32.AsSpan(position * vocabulary.PaddedSize, vocabulary.PaddedSize))));
        double f32Difference = LlamaCppDifference(directory, checkpoint, "f32", objective, tokens, compared, fp32, vocabulary);
        output.WriteLine($"{objectiveName} {vocabularyName}: f32 GGUF max |llama.cpp - vkdiff| = {f32Difference:E2} (largest logit {scale:F2}, bound {Fp32Bound * scale:E2})");
        Assert.True(f32Difference <= Fp32Bound * scale, $"f32 export: llama.cpp's logits differ from vkdiff's by {f32Difference:E3} (bound {Fp32Bound * scale:E3})");

        // f16 and bf16: llama.cpp rounds every matrix and the input of every matmul to 16 bits and accumulates in fp32;
        // vkdiff's fp16 and bf16 precisions do the same to the same weights (rounded here as the export rounds them). How
        // far that moves the logits from fp32 is the effect of the rounding; the two implementations may round a few
        // activations the other way, so llama.cpp may differ from vkdiff's fp32 logits by up to twice that effect plus
        // the fp32 bound.
        foreach (var (dtype, precision) in new[] { ("f16", Precision.Fp16), ("bf16", Precision.Bf16) })
        {
            var rounded = ModelParameters.Specs(source.Config).ToDictionary(spec => spec.Name,
                spec => spec.IsNormWeight ? source.Parameters[spec.Name] : SixteenBitReference.Round(source.Parameters[spec.Name], precision));
            float[] sixteenBit = TinyTrainedModel.Logits(Context, source.Config, objective, rounded, tokens, precision);
            double roundingEffect = compared.Max(position => MaxAbsDifference(sixteenBit, fp32, position, vocabulary.PaddedSize));
            double bound = Fp32Bound * scale + 2 * roundingEffect;
            double difference = LlamaCppDifference(directory, checkpoint, dtype, objective, tokens, compared, fp32, vocabulary);
            output.WriteLine($"{objectiveName} {vocabularyName}: {dtype} GGUF max |llama.cpp - vkdiff fp32| = {difference:E2} (vkdiff's own {dtype} rounding effect {roundingEffect:E2}, bound {bound:E2})");
            Assert.True(roundingEffect > 0, $"rounding to {dtype} changed no logit: the {dtype} reference is not rounding");
            Assert.True(difference <= bound, $"{dtype} export: llama.cpp's logits differ from vkdiff's by {difference:E3} (bound {bound:E3})");
        }
    }

    [Theory]
    [InlineData("bytes")]
    [InlineData("gpt2")]
    [InlineData(ExportTestModels.LearnedVocabularyName)]
    public void Llama_cpp_tokenizes_text_to_the_ids_vkdiff_prepare_writes(string vocabularyName)
    {
        using var directory = new TemporaryDirectory();
        ModelConfig config = ModelPresets.Get("tiny", VocabularySpec.ByName(vocabularyName));
        ITokenizer tokenizer = ExportTestModels.Tokenizer(vocabularyName);
        var source = new ExportSource(config, Objective.Ar, 64, ModelParameters.Initialize(config, seed: 1), vocabularyName == ExportTestModels.LearnedVocabularyName ? ExportTestModels.Learned : null);
        string gguf = directory.File("model.gguf");
        using (var file = File.Create(gguf)) GgufExport.Build(source, ExportDType.F32, "tokenizer-check").Write(file);
        using var model = new LlamaCppModel(gguf);
        Assert.Equal(config.Vocabulary.PaddedSize, model.VocabularySize);
        Assert.Equal(tokenizer.Encode(TinyTrainedModel.SampleText), model.Tokenize(TinyTrainedModel.SampleText));
        Assert.Equal(tokenizer.Encode(""), model.Tokenize(""));
    }

    private static double LlamaCppDifference(TemporaryDirectory directory, string checkpoint, string dtype, Objective objective, uint[] tokens,
        int[] compared, float[] expected, VocabularySpec vocabulary)
    {
        string gguf = directory.File($"model-{dtype}.gguf");
        var (exitCode, _, error) = CliErrorTests.RunVkdiff(null, "export", "--checkpoint", checkpoint, "--format", "gguf", "--dtype", dtype, "--out", gguf);
        Assert.True(exitCode == 0, error);
        using var model = new LlamaCppModel(gguf);
        Assert.Equal(objective == Objective.Mdm, model.IsDiffusion);
        Assert.Equal(vocabulary.PaddedSize, model.VocabularySize);
        float[] actual = model.Logits(tokens);
        return compared.Max(position => MaxAbsDifference(actual, expected, position, vocabulary.PaddedSize));
    }

    private static double MaxAbsDifference(float[] actual, float[] expected, int row, int width)
    {
        double largest = 0;
        for (int i = row * width; i < (row + 1) * width; i++) largest = Math.Max(largest, Math.Abs((double)actual[i] - expected[i]));
        return largest;
    }

    private static double MaxAbs(ReadOnlySpan<float> values)
    {
        double largest = 0;
        foreach (float value in values) largest = Math.Max(largest, Math.Abs(value));
        return largest;
    }
}
