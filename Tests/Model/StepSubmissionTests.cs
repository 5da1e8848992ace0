using VkDiffusion.Model;
using VkDiffusion.Runtime.Distributed;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Model;

public sealed class StepSubmissionTests(GpuFixture fixture) : GpuTest(fixture)
{
    private const int Length = 16, Batch = 2, Steps = 3;

    /// <summary>Three AdamW steps of the tiny MDM model; the losses, the final weights, and the losses read late.</summary>
    /// <param name="bucketBytes">Cut the step into gradient buckets of this size, each copied out to the host and back
    /// (reduced over a group of one) as data-parallel training does; null: no buckets.</param>
    /// <param name="submitAhead">Submit each step before reading the previous step's loss, as the training loop does.</param>
    private (float[] Losses, Dictionary<string, float[]> Weights, int SubmissionsPerStep, int LossesReadLate) Train(int hostInputSlots,
        SubmissionPlan? plan, long? bucketBytes = null, bool submitAhead = false)
    {
        ModelConfig config = ModelPresets.Get("tiny", VocabularySpec.Bytes);
        var graph = TransformerGraph.Build(config, Objective.Mdm, GraphMode.Train, Batch, Length, Context.Info);
        GradientBuckets? buckets = bucketBytes is long bytes ? GradientBuckets.Insert(graph.Graph, graph.Parameters.Select(p => p.Gradient!).ToList(), bytes) : null;
        using var session = new TransformerSession(Context, graph, hostInputSlots: hostInputSlots, stageStarts: buckets?.StageStarts,
            submitAhead: submitAhead);
        if (plan is not null) session.Compiled.CutSubmissions(plan);
        DataParallelStep? bucketed = buckets is null ? null : new DataParallelStep(session.Compiled, buckets, new SingleProcessGroup());
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
        int previousSlot = -1;
        for (int step = 0; step < Steps; step++)
        {
            if (bucketed is null) session.Submit();
            else bucketed.Submit();
            if (submitAhead && step > 0)
            {
                // The step after has run too, rewriting the loss: the previous step's must come from its slot's readback.
                session.Wait();
                losses[step - 1] = session.ReadLoss(previousSlot);
            }
            // With two slots the next step's inputs are written while this one runs, as the training loop does.
            if (step + 1 < Steps) Write(step + 1);
            if (!submitAhead) losses[step] = session.ReadLoss();
            previousSlot = session.Compiled.LastSubmittedSlot;
        }
        if (submitAhead) losses[^1] = session.ReadLoss(previousSlot);
        return (losses, session.ReadParameters(), (Context.SubmissionCount - submissionsBefore) / Steps, session.LossesReadLate);
    }

    [Fact]
    public void Inputs_written_during_a_step_steps_submitted_ahead_and_a_step_cut_into_bounded_submissions_train_bit_for_bit_alike()
    {
        var baseline = Train(hostInputSlots: 1, plan: null);
        Assert.Equal(1, baseline.SubmissionsPerStep);

        var overlapped = Train(hostInputSlots: 2, plan: null);
        Assert.Equal(baseline.Losses, overlapped.Losses);
        AssertSameWeights(baseline.Weights, overlapped.Weights);
        Assert.Equal(0, overlapped.LossesReadLate);
        // Every step's loss differs, so a loss read from the wrong step could not pass.
        Assert.Equal(Steps, baseline.Losses.Distinct().Count());

        // Each step submitted before the previous one's loss was read: all but the last loss were read late.
        var ahead = Train(hostInputSlots: 2, plan: null, submitAhead: true);
        Assert.Equal(Steps - 1, ahead.LossesReadLate);
        Assert.Equal(baseline.Losses, ahead.Losses);
        AssertSameWeights(baseline.Weights, ahead.Weights);

        // A bound of 25 "ms" over commands of 1 "ms" each: one submission per 25 commands, in both slots' recordings.
        var (losses, weights, submissionsPerStep, lossesReadLate) = Train(hostInputSlots: 2,
            SubmissionPlan.Bounded(Enumerable.Repeat(("command", 1.0), 10_000).ToArray(), maxMilliseconds: 25), submitAhead: true);
        Assert.True(submissionsPerStep >= 4, $"expected several submissions per step, got {submissionsPerStep}");
        Assert.Equal(Steps - 1, lossesReadLate);
        Assert.Equal(baseline.Losses, losses);
        AssertSameWeights(baseline.Weights, weights);
        // The weights moved: the comparison is not between untouched initial values.
        Assert.NotEqual(ModelParameters.Initialize(ModelPresets.Get("tiny", VocabularySpec.Bytes), seed: 4)[ModelParameters.FinalNorm],
            weights[ModelParameters.FinalNorm]);
    }

    [Fact]
    public void A_step_cut_into_gradient_buckets_copied_through_the_host_trains_bit_for_bit_like_one_submission()
    {
        var baseline = Train(hostInputSlots: 1, plan: null);
        // 64 KiB buckets split the tiny model's 400 KiB of gradients into several, each its own stage.
        var (losses, weights, submissionsPerStep, _) = Train(hostInputSlots: 2, plan: null, bucketBytes: 64 << 10);
        Assert.True(submissionsPerStep >= 5, $"expected a stage per bucket and one for the update, got {submissionsPerStep} submissions per step");
        Assert.Equal(baseline.Losses, losses);
        AssertSameWeights(baseline.Weights, weights);
    }

    [Fact]
    public void Gradient_buckets_follow_the_order_in_which_backward_finishes_the_gradients()
    {
        ModelConfig config = ModelPresets.Get("tiny", VocabularySpec.Bytes);
        var graph = TransformerGraph.Build(config, Objective.Mdm, GraphMode.Train, Batch, Length, Context.Info, microBatches: 2);
        var gradients = graph.Parameters.Select(p => p.Gradient!).ToList();
        GradientBuckets buckets = GradientBuckets.Insert(graph.Graph, gradients, bucketBytes: 64 << 10);

        // Every gradient lands in exactly one bucket, and the exchange buffers hold exactly the gradient bytes.
        Assert.Equal(gradients.Select(g => g.Name).Order(), buckets.Buckets.SelectMany(b => b.Gradients).Select(g => g.Name).Order());
        Assert.Equal(gradients.Sum(g => g.ByteLength), buckets.TotalBytes);
        var ops = graph.Graph.Ops;
        for (int index = 0; index < buckets.Buckets.Count; index++)
        {
            GradientBucket bucket = buckets.Buckets[index];
            int stageEnd = buckets.StageStarts[index];
            // The bucket's stage ends with its copy to the host, after every write of its gradients...
            Assert.Equal($"gradients {index} -> host", ops[stageEnd - 1].Name);
            int lastWrite = ops.Select((op, at) => (op, at)).Last(x => x.op.Writes.Any(w => bucket.Gradients.Contains(w.Storage))
                && !x.op.Name.StartsWith("reduced gradients", StringComparison.Ordinal)).at;
            Assert.True(lastWrite < stageEnd - 1, $"bucket {index}: gradient written at op {lastWrite}, after its copy at {stageEnd - 1}");
            // ...and (but for the first) after the op that finished the previous bucket: a bucket is not copied while backward still writes it.
            Assert.True(index == 0 || buckets.StageStarts[index - 1] <= lastWrite, $"bucket {index} was final before bucket {index - 1}'s stage ended");
        }
        // The update stage opens with the copies back; nothing after them writes a gradient before the norm reads them.
        int updateStart = buckets.StageStarts[^1];
        Assert.All(ops.Skip(updateStart).Take(buckets.Buckets.Count), op => Assert.StartsWith("reduced gradients", op.Name));
        Assert.Equal("grad_norm", ops[updateStart + buckets.Buckets.Count].Name);
        Assert.True(buckets.Buckets.Count >= 4, $"expected several buckets, got {buckets.Buckets.Count}");
    }

    private static void AssertSameWeights(Dictionary<string, float[]> expected, Dictionary<string, float[]> actual)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, values) in expected) Assert.True(values.AsSpan().SequenceEqual(actual[name]), $"{name} differs");
    }
}
