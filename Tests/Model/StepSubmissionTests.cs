using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Model;

public sealed class StepSubmissionTests(GpuFixture fixture) : GpuTest(fixture)
{
    private const int Length = 16, Batch = 2, Steps = 3;

    /// <summary>Three AdamW steps of the tiny MDM model; the losses and the final weights.</summary>
    private (float[] Losses, Dictionary<string, float[]> Weights, int SubmissionsPerStep) Train(int hostInputSlots, SubmissionPlan? plan)
    {
        ModelConfig config = ModelPresets.Get("tiny", VocabularySpec.Bytes);
        using var session = new TransformerSession(Context, TransformerGraph.Build(config, Objective.Mdm, GraphMode.Train, Batch, Length, Context.Info),
            hostInputSlots: hostInputSlots);
        if (plan is not null) session.Compiled.CutSubmissions(plan);
        session.LoadParameters(ModelParameters.Initialize(config, seed: 4));
        session.ResetOptimizerState();
        uint[] positions = Trainer.Evaluation.LossEvaluator.Positions(Batch, Length);
        void Write(int step)
        {
            var random = new Random(100 + step);
            uint[] tokens = Enumerable.Range(0, Batch * Length).Select(_ => (uint)random.Next(256)).ToArray();
            session.WriteInputs(0, tokens, tokens, positions);
            session.WriteScalars(0, StepScalars.ForStep((uint)step + 1, (uint)step, seed: 9, learningRate: 3e-3f));
        }
        var losses = new float[Steps];
        int submissionsBefore = Context.SubmissionCount;
        Write(0);
        for (int step = 0; step < Steps; step++)
        {
            session.Submit();
            // With two slots the next step's inputs are written while this one runs, as the training loop does.
            if (step + 1 < Steps) Write(step + 1);
            losses[step] = session.ReadLoss();
        }
        return (losses, session.ReadParameters(), (Context.SubmissionCount - submissionsBefore) / Steps);
    }

    [Fact]
    public void Inputs_written_during_a_step_and_a_step_cut_into_bounded_submissions_train_bit_for_bit_alike()
    {
        var baseline = Train(hostInputSlots: 1, plan: null);
        Assert.Equal(1, baseline.SubmissionsPerStep);

        var overlapped = Train(hostInputSlots: 2, plan: null);
        Assert.Equal(baseline.Losses, overlapped.Losses);
        AssertSameWeights(baseline.Weights, overlapped.Weights);

        // A bound of 25 "ms" over commands of 1 "ms" each: one submission per 25 commands.
        var (losses, weights, submissionsPerStep) = Train(hostInputSlots: 2,
            SubmissionPlan.Bounded(Enumerable.Repeat(("command", 1.0), 10_000).ToArray(), maxMilliseconds: 25));
        Assert.True(submissionsPerStep >= 4, $"expected several submissions per step, got {submissionsPerStep}");
        Assert.Equal(baseline.Losses, losses);
        AssertSameWeights(baseline.Weights, weights);
        // The weights moved: the comparison is not between untouched initial values.
        Assert.NotEqual(ModelParameters.Initialize(ModelPresets.Get("tiny", VocabularySpec.Bytes), seed: 4)[ModelParameters.FinalNorm],
            weights[ModelParameters.FinalNorm]);
    }

    private static void AssertSameWeights(Dictionary<string, float[]> expected, Dictionary<string, float[]> actual)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, values) in expected) Assert.True(values.AsSpan().SequenceEqual(actual[name]), $"{name} differs");
    }
}
