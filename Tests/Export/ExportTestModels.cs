using VkDiffusion.Model;
using VkDiffusion.Trainer.Data;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Tests.Export;

/// <summary>Small untrained checkpoints for export tests that need weights but no training (layouts, round trips, refusals).</summary>
public static class ExportTestModels
{
    public const string LearnedVocabularyName = "bpe400";

    private static readonly Lazy<BytePairTokenizer> LearnedTokenizer = new(() => BytePairTokenizer.Learned(LearnedVocabularyName,
        BytePairLearner.Learn(new JsonlCorpusSource(DefaultCorpus.RequirePath()).ReadDocuments(), 399), DefaultCorpus.FileName));

    /// <summary>A learned vocabulary of 400 ids (`prepare --tokenizer bpe400` of the shipped excerpt's documents), the same on every call.</summary>
    public static BytePairTokenizer Learned => LearnedTokenizer.Value;

    /// <summary>The tokenizer of <paramref name="vocabularyName"/>: bytes, gpt2 or <see cref="LearnedVocabularyName"/>.</summary>
    public static ITokenizer Tokenizer(string vocabularyName) => vocabularyName == LearnedVocabularyName ? Learned : Tokenizers.Create(vocabularyName);

    /// <summary>2 layers, width 32 (2 heads of 16), MLP 64: every tensor distinct and cheap.</summary>
    public static ModelConfig Config(string vocabularyName) => new()
    {
        Layers = 2,
        ModelDim = 32,
        Heads = 2,
        HeadDim = 16,
        HiddenDim = 64,
        Vocabulary = VocabularySpec.ByName(vocabularyName),
        RopeTheta = 5000f,
        NormEpsilon = 1e-6f,
    };

    /// <summary>Writes a weights-only checkpoint of <see cref="Config"/> with seeded N(0, 0.02) weights and norms off 1, and returns its path.</summary>
    public static string Write(string path, Objective objective, string vocabularyName = "bytes", Action<Dictionary<string, float[]>>? edit = null)
    {
        ModelConfig config = Config(vocabularyName);
        Dictionary<string, float[]> parameters = ModelParameters.Initialize(config, seed: 9);
        // Norm weights initialise to exactly 1; perturb them so a mix-up between two norms would show.
        foreach (ParameterSpec spec in ModelParameters.Specs(config).Where(spec => spec.IsNormWeight))
            for (int i = 0; i < parameters[spec.Name].Length; i++) parameters[spec.Name][i] += 0.01f * ((i * 7 + spec.Name.Length) % 5);
        edit?.Invoke(parameters);
        RunCheckpoint.SaveWeights(path, config, objective, parameters, vocabularyName == LearnedVocabularyName ? Learned.RanksText() : null);
        return path;
    }
}
