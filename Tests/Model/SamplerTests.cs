using VkDiffusion.Model;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Model;

public sealed class SamplerTests(GpuFixture fixture) : GpuTest(fixture)
{
    private static readonly ModelConfig Config = ModelPresets.Get("tiny", VocabularySpec.Bytes);

    private TransformerSession Open(Objective objective, int length)
    {
        var session = new TransformerSession(Context, TransformerGraph.Build(Config, objective, GraphMode.Logits, 1, length, Context.Info));
        session.LoadParameters(ModelParameters.Initialize(Config, seed: 3));
        return session;
    }

    [Fact]
    public void Mdm_sampling_unmasks_every_position_in_the_given_steps_and_keeps_the_prompt()
    {
        uint[] prompt = [72, 105];
        using TransformerSession session = Open(Objective.Mdm, prompt.Length + 10);
        var masksAfterStep = new List<int>();
        uint[] generated = Sampler.SampleMaskedDiffusion(session, prompt, new SamplingOptions(10, Steps: 4, Temperature: 1f, TopK: 20, Seed: 1),
            state =>
            {
                Assert.Equal(prompt, state[..2]);
                masksAfterStep.Add(state.Count(t => t == Config.Vocabulary.MaskId));
            });
        // ceil(10/4) = 3, then ceil(7/3) = 3, ceil(4/2) = 2, ceil(2/1) = 2.
        Assert.Equal([7, 4, 2, 0], masksAfterStep);
        Assert.Equal(10, generated.Length);
        Assert.All(generated, token => Assert.True(token < Config.Vocabulary.MaskId));
    }

    [Fact]
    public void Ar_sampling_is_reproducible_for_a_seed_and_never_emits_mask_or_padding()
    {
        using TransformerSession session = Open(Objective.Ar, 12);
        var options = new SamplingOptions(12, 12, Temperature: 1f, TopK: 0, Seed: 9);
        uint[] first = Sampler.SampleAutoregressive(session, [], options);
        uint[] second = Sampler.SampleAutoregressive(session, [], options);
        Assert.Equal(first, second);
        Assert.All(first, token => Assert.True(token < Config.Vocabulary.MaskId));
    }

    [Fact]
    public void Greedy_and_top_1_draws_pick_the_largest_logit_with_its_softmax_probability()
    {
        var vocabulary = VocabularySpec.Bytes;
        var logits = new float[vocabulary.PaddedSize];
        logits[42] = 3f;
        logits[7] = 2f;
        logits[vocabulary.MaskId] = 100f; // never drawn
        double expected = Math.Exp(3) / (Math.Exp(3) + Math.Exp(2) + (vocabulary.MaskId - 2));
        var greedy = Sampler.Draw(logits, vocabulary, new SamplingOptions(1, 1, 0f, 0, 0), new Random(1));
        Assert.Equal(42u, greedy.Token);
        Assert.Equal(expected, greedy.Probability, 6);
        Assert.Equal(42u, Sampler.Draw(logits, vocabulary, new SamplingOptions(1, 1, 5f, TopK: 1, 0), new Random(2)).Token);
    }
}
