using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Tests.Training;

// Mixed-precision training against fp32 from the same seed (same batches, masks and initial weights; the runs differ
// only by the 16-bit rounding of matmul operands): ~310 steps of the tiny preset (10 epochs of 4000 tokens), then the
// mean training loss of the last 30 steps must agree within 2 % and have fallen well below the first steps'. fp16 runs
// on the cooperative-matrix path (the emulation layer on lavapipe), bf16 on the 16-bit storage path, both with
// submit-ahead. The loss scaler, which runs on the device, is checked against its rule, step by step, from a scale so
// large that the first steps must overflow, with submit-ahead and in a stopped and resumed run without it.
public sealed class MixedPrecisionTrainingTests(GpuFixture fixture) : GpuTest(fixture), IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("vkdiff-mixed-precision-").FullName;

    [Theory, Trait("Category", "CooperativeMatrix")]
    [InlineData(Objective.Ar)]
    [InlineData(Objective.Mdm)]
    public void Fp16_training_on_cooperative_matrices_follows_fp32(Objective objective)
    {
        MetricsRecord[] fp16 = AssertFollowsFp32(objective, Precision.Fp16, MatmulPath.CooperativeMatrix);
        // 310 steps are far from 2000 clean ones: the scale only ever halved, once per skipped step.
        Assert.All(fp16, record => Assert.Equal(Math.ScaleB(1.0, 16 - (int)record.SkippedSteps!.Value), record.LossScale));
    }

    [Theory]
    [InlineData(Objective.Ar)]
    [InlineData(Objective.Mdm)]
    public void Bf16_training_on_the_16_bit_storage_path_follows_fp32(Objective objective)
    {
        MetricsRecord[] bf16 = AssertFollowsFp32(objective, Precision.Bf16, path: null);
        Assert.All(bf16, record => Assert.Null(record.LossScale));
    }

    private MetricsRecord[] AssertFollowsFp32(Objective objective, Precision precision, MatmulPath? path)
    {
        string data = TrainingRunTests.PrepareCorpus(root);
        TrainingOptions options = TrainingRunTests.Options(data, objective) with { Epochs = 10, EvalEvery = 100_000 };
        double[] fp32 = Train(options, "fp32", path: null).Select(r => r.TrainLoss).ToArray();
        MetricsRecord[] mixedRecords = Train(options with { Precision = precision }, precision.Name(), path);
        double[] mixed = mixedRecords.Select(r => r.TrainLoss).ToArray();

        Assert.True(fp32.Length >= 300, $"{fp32.Length} steps");
        Assert.Equal(fp32.Length, mixed.Length);
        // 16-bit operands round differently: identical losses would mean the precision never reached the recording.
        Assert.NotEqual(fp32, mixed);
        double fp32Final = fp32[^30..].Average(), mixedFinal = mixed[^30..].Average(), first = fp32[..10].Average();
        Assert.True(Math.Abs(mixedFinal - fp32Final) <= 0.02 * fp32Final, $"final training loss fp32 {fp32Final:F4}, {precision} {mixedFinal:F4}");
        Assert.True(fp32Final < 0.8 * first, $"training loss fell only from {first:F4} to {fp32Final:F4}");
        return mixedRecords;
    }

    [Fact]
    public void The_fp16_loss_scale_halves_on_overflow_doubles_after_clean_steps_and_resumes_bit_for_bit()
    {
        string data = TrainingRunTests.PrepareCorpus(root);
        // 2^40 overflows fp16 at once (a logit gradient of 2^-9 becomes 2^31); growth every 10 clean steps.
        TrainingOptions options = TrainingRunTests.Options(data, Objective.Ar) with
        {
            Epochs = 3, EvalEvery = 100_000, Precision = Precision.Fp16, InitialLossScale = Math.ScaleB(1.0, 40), LossScaleGrowthInterval = 10,
        };
        string run = Path.Combine(root, "scaler");
        TrainingSummary summary = TrainingRun.Start(Context, options, run, TextWriter.Null, CancellationToken.None);
        Assert.True(summary.LossesReadLate > 0, "fp16 training did not submit ahead");
        MetricsRecord[] records = MetricsLog.Read(Path.Combine(run, TrainingRun.MetricsFile)).ToArray();
        Assert.True(records.Length >= 60, $"{records.Length} steps");

        // Replay the rule on what each step reported: a step with a non-finite gradient norm was skipped and halved
        // the scale; 10 finite ones in a row doubled it.
        double scale = Math.ScaleB(1.0, 40);
        long skipped = 0;
        int clean = 0, doublings = 0;
        foreach (MetricsRecord record in records)
        {
            if (!double.IsFinite(record.GradNorm))
            {
                scale /= 2;
                skipped++;
                clean = 0;
            }
            else if (++clean == 10)
            {
                scale *= 2;
                clean = 0;
                doublings++;
            }
            Assert.Equal(scale, record.LossScale);
            Assert.Equal(skipped, record.SkippedSteps);
        }
        Assert.True(skipped >= 16, $"only {skipped} steps were skipped from 2^40 (fp16 overflows above about 2^24 here)");
        Assert.True(doublings >= 1, "the scale never grew back");
        Assert.True(records[^1].TrainLoss < 0.8 * records.First(r => double.IsFinite(r.GradNorm)).TrainLoss, "the run did not learn once the scale settled");

        // Without submit-ahead, stopped at step 30 and resumed: the scaler state travels in the checkpoint, and reading
        // each step's state before the next is submitted changes nothing, so every step and the weights match.
        string resumed = Path.Combine(root, "scaler-resumed");
        using var cancellation = new CancellationTokenSource();
        Assert.Throws<OperationCanceledException>(() => TrainingRun.Start(Context, options with { SubmitAhead = false }, resumed,
            new TrainingRunTests.StopAfterStep(30, cancellation), cancellation.Token));
        TrainingSummary resumedSummary = TrainingRun.Resume(Context, resumed, TextWriter.Null, CancellationToken.None);
        Assert.Equal(0, resumedSummary.LossesReadLate);
        MetricsRecord[] resumedRecords = MetricsLog.Read(Path.Combine(resumed, TrainingRun.MetricsFile)).ToArray();
        Assert.Equal(records.Select(r => (r.TrainLoss, r.GradNorm, r.LossScale, r.SkippedSteps)),
            resumedRecords.Select(r => (r.TrainLoss, r.GradNorm, r.LossScale, r.SkippedSteps)));
        Dictionary<string, float[]> weights = FinalWeights(run), resumedWeights = FinalWeights(resumed);
        Assert.Equal(weights.Keys.Order(), resumedWeights.Keys.Order());
        foreach (var (name, values) in weights) Assert.True(values.AsSpan().SequenceEqual(resumedWeights[name]), $"{name} differs");
    }

    private static Dictionary<string, float[]> FinalWeights(string run)
    {
        using RunCheckpoint.Loaded checkpoint = RunCheckpoint.Open(TrainingRun.LastCheckpoint(run));
        return checkpoint.ReadParameters();
    }

    private MetricsRecord[] Train(TrainingOptions options, string name, MatmulPath? path)
    {
        string run = Path.Combine(root, $"{options.Objective}-{name}");
        using (MatmulKernels.Override(path))
            TrainingRun.Start(Context, options, run, TextWriter.Null, CancellationToken.None);
        return MetricsLog.Read(Path.Combine(run, TrainingRun.MetricsFile)).ToArray();
    }

    void IDisposable.Dispose()
    {
        Dispose();
        Directory.Delete(root, recursive: true);
    }
}
