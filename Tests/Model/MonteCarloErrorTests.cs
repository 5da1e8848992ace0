using VkDiffusion.Model;
using VkDiffusion.Runtime.Graph;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Trainer.Evaluation;

namespace VkDiffusion.Tests.Model;

// The Monte Carlo standard error that `vkdiff eval` states beside an MDM bound: it must describe how far the estimate
// moves from one seed of t and masks to another (the windows fixed), shrink as 1/sqrt(K), and be zero for AR's exact NLL.
public sealed class MonteCarloErrorTests(GpuFixture fixture) : GpuTest(fixture)
{
    private const int Length = 16, Batch = 8, Sequences = 8;

    private static List<uint[]> Windows()
    {
        var random = new Random(3);
        return Enumerable.Range(0, Sequences).Select(_ => Enumerable.Range(0, Length + 1).Select(_ => (uint)random.Next(97, 123)).ToArray()).ToList();
    }

    private TransformerSession Session(Objective objective)
    {
        ModelConfig config = ModelPresets.Get("tiny", VocabularySpec.Bytes);
        var session = new TransformerSession(Context, TransformerGraph.Build(config, objective, GraphMode.RowLosses, Batch, Length, Context.Info));
        session.LoadParameters(ModelParameters.Initialize(config, seed: 4));
        return session;
    }

    [Fact]
    public void The_standard_error_matches_the_spread_over_seeds_and_shrinks_with_more_samples()
    {
        using TransformerSession session = Session(Objective.Mdm);
        var evaluator = new LossEvaluator(session);
        var windows = Windows();
        var draws = Enumerable.Range(1, 16).Select(seed => evaluator.EvaluateMaskedDiffusion(windows, 4, (ulong)seed)).ToList();
        double mean = draws.Average(draw => draw.Loss);
        double spread = Math.Sqrt(draws.Sum(draw => (draw.Loss - mean) * (draw.Loss - mean)) / (draws.Count - 1));
        double stated = draws.Average(draw => draw.StandardError!.Value);
        // Stratified t only lowers the true spread, so the stated error may exceed it, but by no more than a small factor.
        Assert.InRange(spread / stated, 0.25, 1.5);

        double sixteen = evaluator.EvaluateMaskedDiffusion(windows, 16, 1).StandardError!.Value;
        Assert.InRange(sixteen / stated, 0.3, 0.75); // 1/sqrt(4) = 0.5, up to the noise of the variance estimates
        Assert.Null(evaluator.EvaluateMaskedDiffusion(windows, 1, 1).StandardError);
    }

    [Fact]
    public void An_ar_loss_is_exact()
    {
        using TransformerSession session = Session(Objective.Ar);
        Assert.Equal(0, new LossEvaluator(session).EvaluateAutoregressive(Windows()).StandardError);
    }
}
