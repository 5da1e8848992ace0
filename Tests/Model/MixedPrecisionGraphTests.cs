using VkDiffusion.Model;
using VkDiffusion.Runtime.Graph;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Model;

// One training step of the tiny model in fp16 and bf16 against the same step in fp32 (same weights, batch and masks):
// the loss and every gradient agree to within what 16-bit matmul operands allow (bf16 keeps 8 significant bits, fp16
// 11); fp16's loss scale multiplies the raw gradients by exactly 2^e while the reported norm stays the unscaled one;
// a step whose fp16 gradients overflow leaves weights and AdamW state as they were; and the 16-bit weight copies the
// matmuls read are the current weights rounded, kept so by AdamW, and shared with an evaluation session.
public sealed class MixedPrecisionGraphTests(GpuFixture fixture) : GpuTest(fixture)
{
    private const int Length = 16, Batch = 2, GrowthInterval = 2000;

    private sealed record StepResult(float Loss, float Norm, Dictionary<string, float[]> Gradients, Dictionary<string, float[]> Weights,
        Dictionary<string, float[]> OptimizerState, LossScaleState? LossScale);

    /// <param name="optimizerStep">The step the host writes; under fp16 the device subtracts <paramref name="skippedSteps"/>.</param>
    private StepResult Step(Objective objective, Precision precision, int lossScaleExponent, uint optimizerStep = 1, long skippedSteps = 0)
    {
        ModelConfig config = ModelPresets.Get("tiny", VocabularySpec.Bytes);
        using var session = new TransformerSession(Context,
            TransformerGraph.Build(config, objective, GraphMode.Train, Batch, Length, Context.Info, precision: precision));
        session.LoadParameters(ModelParameters.Initialize(config, seed: 4));
        session.ResetOptimizerState();
        var random = new Random(5);
        uint[] tokens = Enumerable.Range(0, Batch * Length).Select(_ => (uint)random.Next(97, 123)).ToArray();
        uint[] targets = tokens.Skip(1).Append(32u).ToArray();
        session.WriteInputs(0, tokens, objective == Objective.Ar ? targets : tokens, Trainer.Evaluation.LossEvaluator.Positions(Batch, Length));
        if (precision == Precision.Fp16) session.LoadLossScale(new LossScaleState(lossScaleExponent, 0, skippedSteps), GrowthInterval);
        session.WriteScalars(0, StepScalars.ForStep(optimizerStep, 0, seed: 9, learningRate: 1e-3f));
        session.Run();
        return new StepResult(session.ReadLoss(), session.ReadGradientNorm().Norm, session.ReadGradients(), session.ReadParameters(),
            session.ReadOptimizerState(), precision == Precision.Fp16 ? session.ReadLossScale(session.Compiled.LastSubmittedSlot) : null);
    }

    [Theory]
    [InlineData(Objective.Ar, Precision.Bf16, 0.03)]
    [InlineData(Objective.Mdm, Precision.Bf16, 0.03)]
    [InlineData(Objective.Ar, Precision.Fp16, 0.005)]
    [InlineData(Objective.Mdm, Precision.Fp16, 0.005)]
    public void A_mixed_precision_step_follows_the_fp32_step(Objective objective, Precision precision, double tolerance)
    {
        StepResult fp32 = Step(objective, Precision.Fp32, 0), mixed = Step(objective, precision, 0);
        Assert.True(Math.Abs(mixed.Loss - fp32.Loss) <= tolerance * fp32.Loss, $"loss fp32 {fp32.Loss}, {precision} {mixed.Loss}");
        Assert.NotEqual(fp32.Loss, mixed.Loss);
        foreach (var (name, expected) in fp32.Gradients)
        {
            double error = RelativeError(mixed.Gradients[name], expected);
            // Normwise: 16-bit rounding of both operands of every product on the gradient's path, a few dozen in a row.
            Assert.True(error <= 4 * tolerance, $"{name}: relative error {error:E2} against fp32 ({precision})");
        }
    }

    // Where attention's path reads 16-bit qkv (the storage-buffer kernels: VKDIFF_ATTENTION_TEXELS=0 on lavapipe), RoPE writes
    // it and attention reads it, and the step still follows fp32 as closely; on lavapipe's default texel path attention
    // reads the fp32 qkv. GPU tests run one at a time (one collection), so a process-wide variable is safe to flip here.
    [Theory]
    [InlineData(Objective.Ar, Precision.Bf16, 0.03)]
    [InlineData(Objective.Mdm, Precision.Fp16, 0.005)]
    public void With_16_bit_attention_inputs_a_step_follows_the_fp32_step(Objective objective, Precision precision, double tolerance)
    {
        ModelConfig config = ModelPresets.Get("tiny", VocabularySpec.Bytes);
        Assert.Null(AttentionInput(TransformerGraph.Build(config, objective, GraphMode.Train, Batch, Length, Context.Info, precision: precision)));
        string? previous = Environment.GetEnvironmentVariable(TexelSwitch);
        Environment.SetEnvironmentVariable(TexelSwitch, "0");
        try
        {
            Tensor? input = AttentionInput(TransformerGraph.Build(config, objective, GraphMode.Train, Batch, Length, Context.Info, precision: precision));
            Assert.Equal(precision == Precision.Fp16 ? ElementType.Float16 : ElementType.BFloat16, input?.Type);
            A_mixed_precision_step_follows_the_fp32_step(objective, precision, tolerance);
        }
        finally
        {
            Environment.SetEnvironmentVariable(TexelSwitch, previous);
        }
    }

    private const string TexelSwitch = "VKDIFF_ATTENTION_TEXELS";

    // The 16-bit tensor the first layer's RoPE writes for attention to read, or null where attention reads the fp32 qkv.
    private static Tensor? AttentionInput(TransformerGraph graph)
    {
        GraphOp rope = graph.Graph.Ops.Single(op => op.Name == "layer0.rope");
        GraphOp attention = graph.Graph.Ops.Single(op => op.Name == "layer0.attention");
        Tensor read = Assert.Single(attention.Reads);
        Assert.Contains(read, rope.Writes);
        return read.Type == ElementType.Float32 ? null : read;
    }

    [Fact]
    public void The_fp16_loss_scale_multiplies_raw_gradients_exactly_and_the_norm_is_unscaled()
    {
        StepResult unscaled = Step(Objective.Ar, Precision.Fp16, 0), scaled = Step(Objective.Ar, Precision.Fp16, 8);
        Assert.True(float.IsFinite(scaled.Norm));
        Assert.True(Math.Abs(scaled.Norm - unscaled.Norm) <= 2e-3 * unscaled.Norm, $"norm {unscaled.Norm} unscaled, {scaled.Norm} under 2^8");
        foreach (var (name, values) in unscaled.Gradients)
        {
            double error = RelativeError(scaled.Gradients[name], values.Select(v => v * 256f).ToArray());
            Assert.True(error <= 5e-3, $"{name}: raw gradient under 2^8 differs from 2^8 x unscaled by {error:E2}");
        }
    }

    [Fact]
    public void A_step_whose_fp16_gradients_overflow_changes_no_weight_and_no_optimizer_state()
    {
        ModelConfig config = ModelPresets.Get("tiny", VocabularySpec.Bytes);
        Dictionary<string, float[]> initial = ModelParameters.Initialize(config, seed: 4);
        StepResult overflowed = Step(Objective.Ar, Precision.Fp16, 100);
        Assert.False(float.IsFinite(overflowed.Norm));
        foreach (var (name, values) in initial) Assert.True(values.AsSpan().SequenceEqual(overflowed.Weights[name]), $"{name} changed");
        Assert.All(overflowed.OptimizerState.Values, moment => Assert.All(moment, value => Assert.Equal(0f, value)));
        // The device's scaler ended the step: halved, one skip counted.
        Assert.Equal(new LossScaleState(99, 0, 1), overflowed.LossScale);

        StepResult applied = Step(Objective.Ar, Precision.Fp16, 0);
        Assert.False(initial[ModelParameters.FinalNorm].AsSpan().SequenceEqual(applied.Weights[ModelParameters.FinalNorm]));
        Assert.Equal(new LossScaleState(0, 1, 0), applied.LossScale);
    }

    [Fact]
    public void AdamW_counts_only_applied_steps_when_the_device_subtracts_the_skipped_ones()
    {
        // The host's step 4 after 3 skipped steps is AdamW's first applied step: the same update, bit for bit, as step 1.
        StepResult first = Step(Objective.Ar, Precision.Fp16, 0);
        StepResult afterSkips = Step(Objective.Ar, Precision.Fp16, 0, optimizerStep: 4, skippedSteps: 3);
        foreach (var (name, values) in first.Weights) Assert.True(values.AsSpan().SequenceEqual(afterSkips.Weights[name]), $"{name} differs");
        // Without the subtraction the bias correction would be step 4's.
        StepResult fourth = Step(Objective.Ar, Precision.Fp16, 0, optimizerStep: 4);
        Assert.False(first.Weights[ModelParameters.FinalNorm].AsSpan().SequenceEqual(fourth.Weights[ModelParameters.FinalNorm]));
    }

    [Theory]
    [InlineData(Precision.Bf16)]
    [InlineData(Precision.Fp16)]
    public void AdamW_keeps_the_weight_copies_current_and_an_evaluation_session_reads_them(Precision precision)
    {
        ModelConfig config = ModelPresets.Get("tiny", VocabularySpec.Bytes);
        using var train = new TransformerSession(Context,
            TransformerGraph.Build(config, Objective.Ar, GraphMode.Train, Batch, Length, Context.Info, precision: precision));
        Assert.NotEmpty(train.Model.WeightCopies);
        // No step casts a weight: the copies are written by AdamW and by LoadParameters only.
        Assert.DoesNotContain(train.Model.Graph.Ops, op => train.Model.WeightCopies.Keys.Any(weight => op.Name == "cast " + weight.Name));
        using var shared = new TransformerSession(Context,
            TransformerGraph.Build(config, Objective.Ar, GraphMode.RowLosses, Batch, Length, Context.Info, precision: precision), shareWeightsWith: train);
        train.LoadParameters(ModelParameters.Initialize(config, seed: 4));
        train.ResetOptimizerState();
        if (precision == Precision.Fp16) train.LoadLossScale(new LossScaleState(0, 0, 0), GrowthInterval);

        var random = new Random(6);
        uint[] positions = Trainer.Evaluation.LossEvaluator.Positions(Batch, Length);
        uint[] Tokens() => Enumerable.Range(0, Batch * Length + 1).Select(_ => (uint)random.Next(97, 123)).ToArray();
        for (uint step = 1; step <= 2; step++)
        {
            uint[] window = Tokens();
            train.WriteInputs(0, window[..^1], window[1..], positions);
            train.WriteScalars(0, StepScalars.ForStep(step, step, seed: 9, learningRate: 1e-2f));
            train.Run();
        }
        Dictionary<string, float[]> weights = train.ReadParameters();
        foreach (var (weight, copy) in train.Model.WeightCopies)
            Assert.True(SixteenBitReference.Encode(weights[weight.Name], precision).AsSpan().SequenceEqual(Context.Download<ushort>(copy.Slice)),
                $"{copy.Name} is not {weight.Name} rounded to {precision.Name()} after two steps");

        // The shared session's losses equal those of a session of its own that was handed the same weights.
        using var own = new TransformerSession(Context,
            TransformerGraph.Build(config, Objective.Ar, GraphMode.RowLosses, Batch, Length, Context.Info, precision: precision));
        own.LoadParameters(weights);
        uint[] evaluated = Tokens();
        float[] RowLosses(TransformerSession session)
        {
            session.WriteInputs(0, evaluated[..^1], evaluated[1..], positions);
            session.Run();
            return session.ReadRowLosses();
        }
        Assert.Equal(RowLosses(own), RowLosses(shared));

        // Sharing the weights of a session in another precision would leave this one's copies stale: refused.
        using var fp32 = new TransformerSession(Context,
            TransformerGraph.Build(config, Objective.Ar, GraphMode.Train, Batch, Length, Context.Info));
        Assert.Throws<ArgumentException>(() => new TransformerSession(Context,
            TransformerGraph.Build(config, Objective.Ar, GraphMode.RowLosses, Batch, Length, Context.Info, precision: precision), shareWeightsWith: fp32));
    }

    private static double RelativeError(float[] actual, float[] expected)
    {
        double difference = 0, norm = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            difference += Math.Pow(actual[i] - expected[i], 2);
            norm += Math.Pow(expected[i], 2);
        }
        return Math.Sqrt(difference / Math.Max(norm, 1e-30));
    }
}
