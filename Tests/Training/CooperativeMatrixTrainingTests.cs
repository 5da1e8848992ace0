using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Tests.Training;

// Training with every matmul on the cooperative-matrix path (fp16 operands, fp32 accumulation) against the fp32 path,
// same seed, so both runs see the same batches, masks and initial weights and differ only by fp16 rounding of the
// matmul operands: ~310 steps of the tiny preset (10 epochs of 4000 tokens), then the mean training loss of the last
// 30 steps must agree within 2 %, and must have fallen well below the first steps' (the runs learned something);
// the two runs must not be bit-identical (which would mean the override never reached the recording).
[Trait("Category", "CooperativeMatrix")]
public sealed class CooperativeMatrixTrainingTests(GpuFixture fixture) : GpuTest(fixture), IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("vkdiff-coopmat-train-").FullName;

    [Theory]
    [InlineData(Objective.Ar)]
    [InlineData(Objective.Mdm)]
    public void Training_on_cooperative_matrices_follows_fp32(Objective objective)
    {
        string data = TrainingRunTests.PrepareCorpus(root);
        TrainingOptions options = TrainingRunTests.Options(data, objective) with { Epochs = 10, EvalEvery = 100_000 };
        double[] fp32 = TrainLosses(options, "fp32", MatmulPath.RegisterBlockedTexels);
        double[] coopmat = TrainLosses(options, "coopmat", MatmulPath.CooperativeMatrix);

        Assert.True(fp32.Length >= 300, $"{fp32.Length} steps");
        Assert.Equal(fp32.Length, coopmat.Length);
        // fp16 operands round differently: identical losses would mean the cooperative-matrix path never ran.
        Assert.NotEqual(fp32, coopmat);
        double fp32Final = fp32[^30..].Average(), coopmatFinal = coopmat[^30..].Average(), first = fp32[..10].Average();
        Assert.True(Math.Abs(coopmatFinal - fp32Final) <= 0.02 * fp32Final, $"final training loss fp32 {fp32Final:F4}, coopmat {coopmatFinal:F4}");
        Assert.True(fp32Final < 0.8 * first, $"training loss fell only from {first:F4} to {fp32Final:F4}");
    }

    private double[] TrainLosses(TrainingOptions options, string name, MatmulPath path)
    {
        string run = Path.Combine(root, $"{options.Objective}-{name}");
        using (MatmulKernels.Override(path))
            TrainingRun.Start(Context, options, run, TextWriter.Null, CancellationToken.None);
        return MetricsLog.Read(Path.Combine(run, TrainingRun.MetricsFile)).Select(record => record.TrainLoss).ToArray();
    }

    void IDisposable.Dispose()
    {
        Dispose();
        Directory.Delete(root, recursive: true);
    }
}
