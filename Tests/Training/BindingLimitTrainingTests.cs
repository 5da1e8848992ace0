using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Tests.Runtime;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Tests.Training;

/// <summary>
/// Training on a device whose largest binding is smaller than the embedding table, as GPT-2's 50304 x 768 table (155 MB)
/// is on lavapipe's 128 MiB: a model of width 256 on bytes (a 320 x 256 table, 320 KiB) under VKDIFF_BINDING_LIMIT=256K,
/// where the embedding, the tied head's three products, the gradient's zeroing and norm and AdamW all go in runs, must
/// follow the same run with whole bindings. Only the head's input gradient sums in a different order, so the losses
/// agree to rounding, not bit for bit.
/// </summary>
public sealed class BindingLimitTrainingTests(GpuFixture fixture) : GpuTest(fixture), IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("vkdiff-binding-limit-").FullName;

    [Theory]
    [InlineData(Objective.Ar, Precision.Fp32)]
    [InlineData(Objective.Mdm, Precision.Bf16)]
    public void Training_with_a_table_above_the_binding_limit_follows_whole_bindings(Objective objective, Precision precision)
    {
        string data = TrainingRunTests.PrepareCorpus(root);
        var model = new ModelConfig { Layers = 1, ModelDim = 256, Heads = 4, HeadDim = 64, HiddenDim = 128, Vocabulary = VocabularySpec.Bytes };
        Assert.True(model.Vocabulary.PaddedSize * model.ModelDim * 4L > 256 * 1024, "the table must exceed the limit");
        TrainingOptions options = TrainingRunTests.Options(data, objective) with
        {
            Preset = "custom", Model = model, UniqueTokens = 1000, Epochs = 2, BatchSize = 2, Precision = precision,
        };

        MetricsRecord[] whole = Train(Context, options, "whole");
        MetricsRecord[] inRuns;
        using (GpuContext limited = BindingLimitTests.OpenWithBindingLimit("256K"))
        {
            inRuns = Train(limited, options, "runs");
            limited.WaitForSubmittedWork();
            var messages = limited.Validation!.Drain();
            Assert.True(messages.Count == 0, "validation layer reported:\n" + string.Join("\n", messages));
        }

        Assert.True(whole.Length >= 20, $"{whole.Length} steps");
        Assert.Equal(whole.Length, inRuns.Length);
        double first = whole[0].TrainLoss;
        for (int step = 0; step < whole.Length; step++)
        {
            Assert.True(Math.Abs(whole[step].TrainLoss - inRuns[step].TrainLoss) <= 1e-4 * first,
                $"step {step + 1}: training loss {whole[step].TrainLoss} with whole bindings, {inRuns[step].TrainLoss} in runs");
            if (whole[step].ValLoss is double val)
                Assert.True(Math.Abs(val - inRuns[step].ValLoss!.Value) <= 1e-4 * first, $"step {step + 1}: validation loss {val} against {inRuns[step].ValLoss}");
        }
        Assert.True(whole[^1].TrainLoss < 0.9 * first, $"training loss fell only from {first} to {whole[^1].TrainLoss}");
    }

    private MetricsRecord[] Train(GpuContext context, TrainingOptions options, string name)
    {
        string run = Path.Combine(root, name);
        TrainingRun.Start(context, options, run, TextWriter.Null, CancellationToken.None);
        return [.. MetricsLog.Read(Path.Combine(run, TrainingRun.MetricsFile))];
    }

    public new void Dispose()
    {
        base.Dispose();
        Directory.Delete(root, recursive: true);
    }
}
