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

    private TransformerSession Open(Objective objective, int length, int seed)
    {
        var session = new TransformerSession(Context, TransformerGraph.Build(Config, objective, GraphMode.Logits, 1, length, Context.Info));
        session.LoadParameters(ModelParameters.Initialize(Config, seed));
        return session;
    }

    [Theory]
    [InlineData(UnmaskingOrder.Confidence)]
    [InlineData(UnmaskingOrder.Random)]
    [InlineData(UnmaskingOrder.Remask)]
    public void Mdm_sampling_unmasks_every_position_in_the_given_steps_and_keeps_the_prompt(UnmaskingOrder order)
    {
        uint[] prompt = [72, 105];
        using TransformerSession session = Open(Objective.Mdm, prompt.Length + 10);
        var masksAfterStep = new List<int>();
        var options = new SamplingOptions(10, Steps: 4, Temperature: 1f, TopK: 20, Seed: 1, order);
        uint[] generated = Sampler.SampleMaskedDiffusion(session, prompt, options,
            state =>
            {
                Assert.Equal(prompt, state[..2]);
                masksAfterStep.Add(state.Count(t => t == Config.Vocabulary.MaskId));
            });
        // ceil(10/4) = 3, then ceil(7/3) = 3, ceil(4/2) = 2, ceil(2/1) = 2.
        Assert.Equal([7, 4, 2, 0], masksAfterStep);
        Assert.Equal(10, generated.Length);
        Assert.All(generated, token => Assert.True(token < Config.Vocabulary.MaskId));
        Assert.Equal(generated, Sampler.SampleMaskedDiffusion(session, prompt, options)); // the seed decides
    }

    [Fact]
    public void Random_order_reveals_positions_chosen_by_the_seed_alone()
    {
        // Two differently initialised models: random order reveals the same positions at every step (each draw takes
        // one uniform from the generator, so the models' logits cannot shift the subsets).
        List<bool[]> Patterns(int modelSeed)
        {
            using TransformerSession session = Open(Objective.Mdm, 16, modelSeed);
            var patterns = new List<bool[]>();
            Sampler.SampleMaskedDiffusion(session, [], new SamplingOptions(16, Steps: 4, Temperature: 1f, TopK: 0, Seed: 5, UnmaskingOrder.Random),
                state => patterns.Add(state.Select(t => t == Config.Vocabulary.MaskId).ToArray()));
            return patterns;
        }
        var randomA = Patterns(3);
        Assert.Equal(randomA, Patterns(4));
        // Hand-computed: step 1 reveals the first 4 positions of a partial Fisher-Yates shuffle of 0..15 by Random(5).
        var expectedFirst = Sampler.RandomSubset(Enumerable.Range(0, 16).ToList(), 4, new Random(5));
        Assert.Equal(Enumerable.Range(0, 16).Where(i => !expectedFirst.Contains(i)), Enumerable.Range(0, 16).Where(i => randomA[0][i]));
    }

    [Fact]
    public void Random_subset_is_a_partial_fisher_yates_shuffle()
    {
        // Random(0) replayed by hand: each pick swaps a uniformly chosen later entry into place i.
        var random = new Random(0);
        int[] pool = [10, 11, 12, 13, 14];
        var expected = new List<int>();
        for (int i = 0; i < 3; i++)
        {
            int pick = random.Next(i, pool.Length);
            (pool[i], pool[pick]) = (pool[pick], pool[i]);
            expected.Add(pool[i]);
        }
        var subset = Sampler.RandomSubset([10, 11, 12, 13, 14], 3, new Random(0));
        Assert.Equal(expected, subset);
        Assert.Equal(3, subset.Distinct().Count());
        Assert.Empty(Sampler.RandomSubset([1, 2], 0, new Random(0)));
    }

    [Fact]
    public void Most_confident_keeps_the_highest_confidences_and_breaks_ties_by_position()
    {
        // Remask's pool: an earlier token at position 2 drawn with confidence 0.3 loses its place to two new,
        // surer draws (0.8 at 0, 0.5 at 1) when only two may stay; 4 and 1 tie at 0.5: the earlier position wins.
        Assert.Equal([0, 1], Sampler.MostConfident([(2, 0.3), (0, 0.8), (1, 0.5)], 2));
        Assert.Equal([0, 1], Sampler.MostConfident([(4, 0.5), (0, 0.8), (1, 0.5)], 2));
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
