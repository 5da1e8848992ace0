using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Model;

public sealed class GradientAccumulationTests(GpuFixture fixture) : GpuTest(fixture)
{
    [Fact]
    public void Two_micro_batches_of_two_give_the_loss_and_gradients_of_one_batch_of_four()
    {
        ModelConfig config = ModelPresets.Get("tiny", VocabularySpec.Bytes);
        const int length = 16;
        var random = new Random(5);
        uint[] tokens = Enumerable.Range(0, 4 * length).Select(_ => (uint)random.Next(256)).ToArray();
        uint[] targets = Enumerable.Range(0, 4 * length).Select(_ => (uint)random.Next(256)).ToArray();
        var weights = ModelParameters.Initialize(config, seed: 2);
        var scalars = StepScalars.ForStep(1, 0, seed: 0, learningRate: 1e-3f);

        (float Loss, Dictionary<string, float[]> Gradients) Step(int batch, int microBatches)
        {
            using var session = new TransformerSession(Context,
                TransformerGraph.Build(config, Objective.Ar, GraphMode.Train, batch, length, Context.Info, microBatches));
            session.LoadParameters(weights);
            session.ResetOptimizerState();
            int rows = batch * length;
            for (int m = 0; m < microBatches; m++)
            {
                session.WriteInputs(m, tokens.AsSpan(m * rows, rows), targets.AsSpan(m * rows, rows),
                    Trainer.Evaluation.LossEvaluator.Positions(batch, length));
                session.WriteScalars(m, scalars);
            }
            session.Run();
            return (session.ReadLoss(), session.ReadGradients());
        }

        var whole = Step(batch: 4, microBatches: 1);
        var accumulated = Step(batch: 2, microBatches: 2);
        // Same sums in a different grouping: fp32 reassociation over 64 rows, far below 1e-5 relative.
        Assert.Equal(whole.Loss, accumulated.Loss, 1e-5f * whole.Loss);
        foreach (var (name, expected) in whole.Gradients)
        {
            double scale = expected.Max(v => Math.Abs((double)v));
            TestData.AssertClose(accumulated.Gradients[name], expected, atol: 1e-5 * scale, rtol: 1e-4, name);
        }
    }
}
