using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Trainer.Checkpoints;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Model;

/// <summary>
/// The whole training step against PyTorch (tools/golden/make_golden.py, float64): the loss, every
/// parameter gradient, the global gradient norm, and the parameters after three AdamW steps with
/// clipping — for AR and for MDM with the golden file's fixed t and masks.
/// </summary>
public sealed class GoldenTests(GpuFixture fixture) : GpuTest(fixture)
{
    private const int BatchSize = 3, SequenceLength = 32;

    private static readonly ModelConfig TinyConfig = new()
    {
        Layers = 2,
        ModelDim = 64,
        Heads = 4,
        HeadDim = 16,
        HiddenDim = 128,
        Vocabulary = VocabularySpec.Bytes,
    };

    [Theory]
    [InlineData("ar")]
    [InlineData("mdm")]
    public void A_training_step_matches_pytorch(string objectiveName)
    {
        using SafeTensorsFile golden = SafeTensorsFile.Open(Path.Combine(AppContext.BaseDirectory, "Golden", objectiveName + ".safetensors"));
        Objective objective = objectiveName == "ar" ? Objective.Ar : Objective.Mdm;
        var graph = TransformerGraph.Build(TinyConfig, objective, GraphMode.Train, BatchSize, SequenceLength, Context.Info, maskSource: MaskSource.Host);
        using var session = new TransformerSession(Context, graph);
        var specs = ModelParameters.Specs(TinyConfig);
        session.LoadParameters(specs.ToDictionary(s => s.Name, s => golden.Read<float>(s.Name)));
        session.ResetOptimizerState();
        WriteBatch(session, golden, objective);

        var losses = new List<float>();
        for (int step = 1; step <= 3; step++)
        {
            // torch.optim.AdamW(lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1) after clip_grad_norm_(1.0).
            session.WriteScalars(0, StepScalars.ForStep((uint)step, 0, seed: 0, learningRate: 1e-3f));
            session.Run();
            losses.Add(session.ReadLoss());
            if (step == 1) CheckGradients(session, golden, specs);
        }

        // fp32 forward vs a float64 reference: summing 96 row losses of ~5.8 nats each with rounding
        // ~1e-7 relative per op through two layers stays well inside 1e-5 relative.
        for (int step = 1; step <= 3; step++)
        {
            double expected = golden.Read<float>($"loss_step{step}")[0];
            Assert.True(Math.Abs(losses[step - 1] - expected) <= 1e-5 * Math.Abs(expected),
                $"loss before step {step}: {losses[step - 1]} vs PyTorch {expected}");
        }
        // After three updates the parameters moved by ~3e-3 (three Adam steps of lr 1e-3); their error
        // is dominated by fp32 rounding of the gradients feeding m/sqrt(v), which Adam normalises, so
        // an absolute 2e-5 (under 1% of the update) is the bound we hold.
        var final = session.ReadParameters();
        foreach (ParameterSpec spec in specs)
            TestData.AssertClose(final[spec.Name], golden.Read<float>("step3." + spec.Name), atol: 2e-5, rtol: 1e-4, $"{spec.Name} after 3 steps");
    }

    private static void CheckGradients(TransformerSession session, SafeTensorsFile golden, IReadOnlyList<ParameterSpec> specs)
    {
        var gradients = session.ReadGradients();
        (float norm, _) = session.ReadGradientNorm();
        double expectedNorm = golden.Read<float>("grad_norm")[0];
        Assert.True(Math.Abs(norm - expectedNorm) <= 1e-4 * expectedNorm, $"gradient norm {norm} vs PyTorch {expectedNorm}");
        foreach (ParameterSpec spec in specs)
        {
            float[] expected = golden.Read<float>("grad." + spec.Name);
            // 1e-4 relative to the tensor's largest gradient: fp32 accumulation over up to 96 rows and
            // 320 logits per element; individual tiny gradients are judged against the tensor's scale.
            double scale = expected.Max(v => Math.Abs((double)v));
            TestData.AssertClose(gradients[spec.Name], expected, atol: 1e-4 * scale, rtol: 1e-4, $"gradient of {spec.Name}");
        }
    }

    private static void WriteBatch(TransformerSession session, SafeTensorsFile golden, Objective objective)
    {
        int[] tokens = golden.Read<int>("tokens");
        int rows = BatchSize * SequenceLength;
        var inputs = new uint[rows];
        var targets = new uint[rows];
        var positions = new uint[rows];
        for (int row = 0; row < rows; row++) positions[row] = (uint)(row % SequenceLength);
        if (objective == Objective.Ar)
        {
            for (int b = 0; b < BatchSize; b++)
                for (int i = 0; i < SequenceLength; i++)
                {
                    inputs[b * SequenceLength + i] = (uint)tokens[b * (SequenceLength + 1) + i];
                    targets[b * SequenceLength + i] = (uint)tokens[b * (SequenceLength + 1) + i + 1];
                }
            session.WriteInputs(0, inputs, targets, positions);
            return;
        }
        float[] t = golden.Read<float>("t");
        byte[] mask = golden.Read<byte>("mask");
        var weights = new float[rows];
        for (int b = 0; b < BatchSize; b++)
        {
            double p = (1 - 1e-3) * t[b] + 1e-3;
            for (int i = 0; i < SequenceLength; i++)
            {
                int row = b * SequenceLength + i;
                bool masked = mask[row] != 0;
                inputs[row] = masked ? (uint)VocabularySpec.Bytes.MaskId : (uint)tokens[row];
                targets[row] = (uint)tokens[row];
                weights[row] = masked ? (float)(1 / p) : 0f;
            }
        }
        session.WriteInputs(0, inputs, targets, positions);
        session.WriteLossWeights(0, weights);
    }
}
