using VkDiffusion.Runtime.Graph;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Randomness;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Model;

/// <summary>What a compiled transformer graph computes.</summary>
public enum GraphMode
{
    /// <summary>Forward, backward and the AdamW update over one or more micro-batches.</summary>
    Train,
    /// <summary>Forward only; the unweighted negative log-likelihood of each target (evaluation, scoring).</summary>
    RowLosses,
    /// <summary>Forward only; the logits of every position (sampling).</summary>
    Logits,
}

/// <summary>Where MDM training draws t and the masks.</summary>
public enum MaskSource
{
    /// <summary>The corruption kernel, keyed by (seed, random step): the normal training path.</summary>
    Device,
    /// <summary>The host writes corrupted tokens, clean targets and loss weights (golden checks against PyTorch).</summary>
    Host,
}

/// <summary>The host-facing tensors of one micro-batch.</summary>
public sealed record MicroBatchTensors(
    Tensor Tokens,
    Tensor? Targets,
    Tensor? LossWeights,
    Tensor Positions,
    Tensor StepScalars,
    Tensor? Loss,
    Tensor? RowLosses,
    Tensor? Logits);

/// <summary>A weight with, in training graphs, its gradient and AdamW moments.</summary>
public sealed record ParameterTensors(ParameterSpec Spec, Tensor Value, Tensor? Gradient, Tensor? FirstMoment, Tensor? SecondMoment);

/// <summary>
/// Builds the paper's transformer (PAPER §1-2) as a graph: embedding, pre-norm blocks with RoPE attention
/// and SwiGLU MLP, final RMSNorm, the tied LM head fused with the cross-entropy in row chunks (the
/// [tokens, vocab] logits never exist whole), and for training the backward pass, the global gradient
/// norm and AdamW.
/// </summary>
public sealed class TransformerGraph
{
    /// <summary>Bytes reserved per micro-batch for its <see cref="StepScalars"/> (one aligned slot each).</summary>
    public const int StepScalarFloats = StepScalars.ByteLength / 4;

    public ModelConfig Config { get; }
    public Objective Objective { get; }
    public GraphMode Mode { get; }
    public int BatchSize { get; }
    public int SequenceLength { get; }
    public ComputeGraph Graph { get; } = new();
    public IReadOnlyList<ParameterTensors> Parameters { get; }
    public IReadOnlyList<MicroBatchTensors> MicroBatches { get; }
    /// <summary>[global gradient norm, clip scale] after the step (training graphs).</summary>
    public Tensor? GradientNorm { get; }
    /// <summary>fp16 training: the loss scaler's state, kept on the device across steps (<see cref="LossScaleKernels"/>).</summary>
    public Tensor? LossScale { get; }

    public int RowCount => BatchSize * SequenceLength;

    /// <summary>The number format of the matmul operands (fp32, or fp16/bf16 mixed precision).</summary>
    public Precision Precision => mixed.Precision;

    /// <summary>Under mixed precision, the weights the matmuls read as 16-bit copies, each with its copy.</summary>
    public IReadOnlyDictionary<Tensor, Tensor> WeightCopies => mixed.WeightCopies;

    private readonly MaskSource maskSource;
    private readonly MixedPrecision mixed;
    /// <summary>Data-parallel ranks whose gradients are summed: each rank's loss is scaled by 1/(rows over all of them).</summary>
    private readonly int ranks;

    private TransformerGraph(ModelConfig config, Objective objective, GraphMode mode, int batchSize, int sequenceLength, int microBatches,
        DeviceInfo device, MaskSource maskSource, Precision precision, int ranks)
    {
        this.maskSource = maskSource;
        mixed = new MixedPrecision(Graph, precision);
        this.ranks = ranks;
        config.Validate();
        if (batchSize < 1 || sequenceLength < 1 || microBatches < 1)
            throw new InvalidInputException($"batch {batchSize}, sequence length {sequenceLength} and micro-batches {microBatches} must be positive");
        if (sequenceLength > 2048) throw new InvalidInputException($"sequence length {sequenceLength} is above the attention kernels' 2048");
        Config = config;
        Objective = objective;
        Mode = mode;
        BatchSize = batchSize;
        SequenceLength = sequenceLength;
        bool training = mode == GraphMode.Train;

        var parameters = new List<ParameterTensors>();
        foreach (ParameterSpec spec in ModelParameters.Specs(config))
        {
            Tensor value = Graph.NewTensor(spec.Name, TensorRole.Parameter, spec.Shape);
            parameters.Add(training
                ? new ParameterTensors(spec, value,
                    Graph.NewTensor("grad." + spec.Name, TensorRole.ParameterGradient, spec.Shape),
                    Graph.NewTensor(ModelParameters.FirstMoment(spec.Name), TensorRole.OptimizerState, spec.Shape),
                    Graph.NewTensor(ModelParameters.SecondMoment(spec.Name), TensorRole.OptimizerState, spec.Shape))
                : new ParameterTensors(spec, value, null, null, null));
        }
        Parameters = parameters;

        if (training)
            foreach (ParameterTensors parameter in parameters)
            {
                Tensor gradient = parameter.Gradient!;
                Graph.Add("zero " + gradient.Name, [], [gradient], c => BasicKernels.Fill(c, gradient.Slice, 0f));
            }

        var micro = new List<MicroBatchTensors>();
        for (int index = 0; index < microBatches; index++) micro.Add(BuildMicroBatch(index, microBatches, device));
        MicroBatches = micro;

        if (training)
        {
            GradientNorm = Graph.NewTensor("grad_norm", TensorRole.HostOutput, 2);
            AppendOptimizer(micro[0].StepScalars, device);
            if (precision == Precision.Fp16) LossScale = AppendLossScaling();
        }
    }

    /// <param name="ranks">Data-parallel ranks that each run this graph on their own micro-batches (training graphs).</param>
    public static TransformerGraph Build(ModelConfig config, Objective objective, GraphMode mode, int batchSize, int sequenceLength,
        DeviceInfo device, int microBatches = 1, MaskSource maskSource = MaskSource.Device, Precision precision = Precision.Fp32, int ranks = 1) =>
        new(config, objective, mode, batchSize, sequenceLength, mode == GraphMode.Train ? microBatches : 1, device, maskSource, precision, ranks);

    public ParameterTensors Parameter(string name) => Parameters.First(p => p.Spec.Name == name);

    private MicroBatchTensors BuildMicroBatch(int index, int microBatchCount, DeviceInfo device)
    {
        ModelConfig config = Config;
        int rows = RowCount, d = config.ModelDim, f = config.HiddenDim, vocabRows = config.Vocabulary.PaddedSize;
        bool training = Mode == GraphMode.Train;
        string prefix = microBatchCount > 1 ? $"mb{index}." : "";
        var tape = new Tape(Graph);
        foreach (ParameterTensors parameter in Parameters)
            if (parameter.Gradient is not null) tape.RegisterParameter(parameter.Value, parameter.Gradient);

        Tensor tokens = Graph.NewTensor(prefix + "tokens", TensorRole.HostInput, ElementType.UInt32, rows);
        Tensor positions = Graph.NewTensor(prefix + "positions", TensorRole.HostInput, ElementType.UInt32, rows);
        Tensor scalars = Graph.NewTensor(prefix + "step_scalars", TensorRole.HostInput, StepScalarFloats);

        // Inputs and targets of the loss: AR reads its shifted targets from the host; MDM corrupts on the device.
        // What the loss compares against: none for logits; host targets for evaluation and AR training
        // (shifted on the host); MDM training corrupts on the device (or takes the host's masks).
        Tensor inputTokens = tokens;
        Tensor? targets = null, weights = null, hostTargets = null, hostWeights = null;
        if (Mode == GraphMode.RowLosses || (training && (Objective == Objective.Ar || maskSource == MaskSource.Host)))
        {
            hostTargets = Graph.NewTensor(prefix + "targets", TensorRole.HostInput, ElementType.UInt32, rows);
            targets = hostTargets;
        }
        if (training && Objective == Objective.Mdm && maskSource == MaskSource.Host)
        {
            hostWeights = Graph.NewTensor(prefix + "loss_weights", TensorRole.HostInput, rows);
            weights = hostWeights;
        }
        else if (training && Objective == Objective.Mdm)
        {
            Tensor corrupted = Graph.NewTensor(prefix + "corrupted_tokens", TensorRole.Transient, ElementType.UInt32, rows);
            Tensor maskWeights = Graph.NewTensor(prefix + "loss_weights", TensorRole.Transient, rows);
            Tensor tValues = Graph.NewTensor(prefix + "t", TensorRole.Transient, BatchSize);
            Graph.Add(prefix + "mdm_corruption", [tokens, scalars], [corrupted, maskWeights, tValues],
                c => CorruptionKernels.Corrupt(c, tokens.Slice, scalars.Slice, corrupted.Slice, maskWeights.Slice, tValues.Slice,
                    BatchSize, SequenceLength, (uint)config.Vocabulary.MaskId));
            inputTokens = corrupted;
            targets = tokens;
            weights = maskWeights;
        }
        else if (training)
        {
            Tensor ones = Graph.NewTensor(prefix + "loss_weights", TensorRole.Transient, rows);
            Graph.Add(prefix + "unit_weights", [], [ones], c => BasicKernels.Fill(c, ones.Slice, 1f));
            weights = ones;
        }

        Tensor table = Parameter(ModelParameters.Embedding).Value;
        Tensor x = Layers.Embedding(tape, prefix + "embedding", inputTokens, table, rows, vocabRows, d);
        bool causal = Objective == Objective.Ar;
        // Attention reads 16-bit Q, K and V where the path it takes on this device does (RoPE writes them in that case).
        bool attentionReads16Bit = AttentionKernels.InputPrecision(device, config.HeadDim, Precision) != Precision.Fp32;
        for (int layer = 0; layer < config.Layers; layer++)
        {
            string name = $"{prefix}layer{layer}.";
            Tensor h = Layers.RmsNorm(tape, name + "input_norm", x, Parameter(ModelParameters.InputNorm(layer)).Value, rows, d);
            Tensor qkv = Layers.Linear(tape, name + "qkv", h, Parameter(ModelParameters.QkvProjection(layer)).Value, rows, d, 3 * d, mixed);
            Tensor attentionInput = Layers.Rope(tape, name + "rope", qkv, positions, rows, config.Heads, config.HeadDim, config.RopeTheta,
                attentionReads16Bit ? mixed : null);
            Tensor attention = Layers.Attention(tape, name + "attention", attentionInput, BatchSize, SequenceLength, config.Heads, config.HeadDim, causal);
            Tensor projected = Layers.Linear(tape, name + "o_proj", attention, Parameter(ModelParameters.OutputProjection(layer)).Value, rows, d, d, mixed);
            if (training) projected = Layers.Dropout(tape, name + "attention_dropout", projected, scalars, config.Dropout, Philox4x32.Streams.FirstDropout + (uint)(2 * layer));
            x = Layers.Residual(tape, name + "attention_residual", x, projected);
            Tensor h2 = Layers.RmsNorm(tape, name + "post_attention_norm", x, Parameter(ModelParameters.PostAttentionNorm(layer)).Value, rows, d);
            Tensor gateUp = Layers.Linear(tape, name + "gate_up", h2, Parameter(ModelParameters.GateUpProjection(layer)).Value, rows, d, 2 * f, mixed);
            Tensor activated = Layers.Swiglu(tape, name + "swiglu", gateUp, rows, f);
            Tensor down = Layers.Linear(tape, name + "down", activated, Parameter(ModelParameters.DownProjection(layer)).Value, rows, f, d, mixed);
            if (training) down = Layers.Dropout(tape, name + "mlp_dropout", down, scalars, config.Dropout, Philox4x32.Streams.FirstDropout + (uint)(2 * layer + 1));
            x = Layers.Residual(tape, name + "mlp_residual", x, down);
        }
        Tensor hidden = Layers.RmsNorm(tape, prefix + "final_norm", x, Parameter(ModelParameters.FinalNorm).Value, rows, d);

        int chunkRows = Math.Min(rows, Math.Max(1, CrossEntropyKernels.MaxRowsPerChunk(device, vocabRows)));
        switch (Mode)
        {
            case GraphMode.Train:
            {
                Tensor loss = Graph.NewTensor(prefix + "loss", TensorRole.HostOutput, 1);
                float lossScale = 1f / ((float)rows * microBatchCount * ranks);
                AppendTrainingLoss(tape, prefix, hidden, table, targets!, weights!, scalars, loss, chunkRows, lossScale);
                tape.AppendBackward();
                return new MicroBatchTensors(tokens, hostTargets, hostWeights, positions, scalars, loss, null, null);
            }
            case GraphMode.RowLosses:
            {
                Tensor rowLosses = Graph.NewTensor(prefix + "row_losses", TensorRole.HostOutput, rows);
                Tensor logits = Graph.NewTensor(prefix + "logits_chunk", TensorRole.Transient, chunkRows, vocabRows);
                Tensor rowTargets = targets!;
                Tensor hiddenOperand = mixed.Operand(prefix + "final_norm", hidden), tableOperand = mixed.Weight(table);
                Graph.Add(prefix + "lm_head+nll", [hiddenOperand, tableOperand, rowTargets], [logits, rowLosses], c =>
                {
                    for (int start = 0; start < rows; start += chunkRows)
                    {
                        int count = Math.Min(chunkRows, rows - start);
                        BufferSlice chunk = logits.Slice.Elements<float>(0, (long)count * vocabRows);
                        MatmulKernels.Forward(c, OperandRows(hiddenOperand, start, count, d), tableOperand.Slice, chunk, count, d, vocabRows,
                            operands: Precision);
                        CrossEntropyKernels.Forward(c, chunk, rowTargets.Slice.Elements<uint>(start, count), rowLosses.Slice.Elements<float>(start, count), count, vocabRows);
                    }
                });
                return new MicroBatchTensors(tokens, hostTargets, hostWeights, positions, scalars, null, rowLosses, null);
            }
            default:
            {
                Tensor logits = Graph.NewTensor(prefix + "logits", TensorRole.HostOutput, rows, vocabRows);
                Tensor hiddenOperand = mixed.Operand(prefix + "final_norm", hidden), tableOperand = mixed.Weight(table);
                Graph.Add(prefix + "lm_head", [hiddenOperand, tableOperand], [logits], c =>
                {
                    for (int start = 0; start < rows; start += chunkRows)
                    {
                        int count = Math.Min(chunkRows, rows - start);
                        MatmulKernels.Forward(c, OperandRows(hiddenOperand, start, count, d), tableOperand.Slice,
                            logits.Slice.Elements<float>((long)start * vocabRows, (long)count * vocabRows), count, d, vocabRows, operands: Precision);
                    }
                });
                return new MicroBatchTensors(tokens, hostTargets, hostWeights, positions, scalars, null, null, logits);
            }
        }
    }

    /// <summary>
    /// The tied LM head and weighted cross-entropy, forward and backward together, one row chunk at a
    /// time: logits, then their gradient in place, then dHidden and the embedding-table gradient. Under mixed
    /// precision the logits' gradient is cast to 16 bits for the two backward products, scaled in fp16 by the step's
    /// loss scale: every gradient of the step then carries that scale until the gradient norm removes it.
    /// </summary>
    private void AppendTrainingLoss(Tape tape, string prefix, Tensor hidden, Tensor table, Tensor targets, Tensor weights, Tensor scalars,
        Tensor loss, int chunkRows, float lossScale)
    {
        int rows = RowCount, d = Config.ModelDim, vocabRows = Config.Vocabulary.PaddedSize;
        Tensor logits = Graph.NewTensor(prefix + "logits_chunk", TensorRole.Transient, chunkRows, vocabRows);
        Tensor rowLosses = Graph.NewTensor(prefix + "row_losses", TensorRole.Transient, rows);
        Tensor partials = Graph.NewTensor(prefix + "loss_partials", TensorRole.Transient, BasicKernels.SumPartialCount);
        Tensor hiddenOperand = mixed.Operand(prefix + "final_norm", hidden), tableOperand = mixed.Weight(table);
        // The 16-bit copy of a chunk's logit gradient (under mixed precision only).
        Tensor? logitGradient = mixed.IsActive ? mixed.NewOperand(prefix + "logits_chunk_gradient", chunkRows, vocabRows) : null;
        var (dHidden, _) = tape.Contribute(hidden);
        var (dTable, _) = tape.Contribute(table);
        Tensor[] reads = logitGradient is null ? [hiddenOperand, tableOperand, targets, weights, dTable] : [hiddenOperand, tableOperand, targets, weights, dTable, scalars];
        Tensor[] writes = logitGradient is null ? [logits, rowLosses, dHidden, dTable, partials, loss] : [logits, logitGradient, rowLosses, dHidden, dTable, partials, loss];
        Graph.Add(prefix + "lm_head+cross_entropy", reads, writes, c =>
        {
            for (int start = 0; start < rows; start += chunkRows)
            {
                int count = Math.Min(chunkRows, rows - start);
                BufferSlice chunk = logits.Slice.Elements<float>(0, (long)count * vocabRows);
                BufferSlice hiddenRows = OperandRows(hiddenOperand, start, count, d);
                MatmulKernels.Forward(c, hiddenRows, tableOperand.Slice, chunk, count, d, vocabRows, operands: Precision);
                CrossEntropyKernels.ForwardBackward(c, chunk, targets.Slice.Elements<uint>(start, count), weights.Slice.Elements<float>(start, count),
                    rowLosses.Slice.Elements<float>(start, count), count, vocabRows, lossScale);
                BufferSlice chunkGradient = chunk;
                if (logitGradient is not null)
                {
                    chunkGradient = logitGradient.Slice.Slice(0, (long)count * vocabRows * 2);
                    CastKernels.To16Bit(c, chunk, chunkGradient, Precision, Precision == Precision.Fp16 ? scalars.Slice : null);
                }
                MatmulKernels.BackwardInput(c, chunkGradient, tableOperand.Slice, dHidden.Slice.Elements<float>((long)start * d, (long)count * d), count, d, vocabRows,
                    operands: Precision);
                MatmulKernels.BackwardWeight(c, chunkGradient, hiddenRows, dTable.Slice, count, d, vocabRows, accumulate: true, operands: Precision);
            }
            BasicKernels.Sum(c, rowLosses.Slice, partials.Slice, loss.Slice);
        });
    }

    // Rows [start, start + count) of a [rows, width] matmul operand, fp32 or 16-bit.
    private static BufferSlice OperandRows(Tensor operand, int start, int count, int width)
    {
        long rowBytes = operand.ByteLength / operand.Shape[0];
        return operand.Slice.Slice(start * rowBytes, count * rowBytes);
    }

    /// <summary>
    /// The loss scaler on the device: the step opens by writing the scale and the applied-step count into every
    /// step-scalar block an op reads, and ends, after AdamW, by applying the rule to the state from the gradient norm.
    /// The state is a host output, so the host reads it per step (one step late under submit-ahead).
    /// </summary>
    private Tensor AppendLossScaling()
    {
        Tensor state = Graph.NewTensor("loss_scale", TensorRole.HostOutput, ElementType.UInt32, LossScaleKernels.StateBytes / 4);
        Tensor norm = GradientNorm!;
        var read = Graph.Ops.SelectMany(op => op.Reads).Select(tensor => tensor.Storage).ToHashSet();
        foreach (Tensor scalars in MicroBatches.Select(m => m.StepScalars).Where(read.Contains).Reverse())
            Graph.Insert(0, "loss_scale_apply " + scalars.Name, [state, scalars], [scalars], c => LossScaleKernels.Apply(c, state.Slice, scalars.Slice));
        Graph.Add("loss_scale_update", [norm, state], [state], c => LossScaleKernels.Update(c, norm.Slice, state.Slice));
        return state;
    }

    private void AppendOptimizer(Tensor scalars, DeviceInfo device)
    {
        var gradients = Parameters.Select(p => p.Gradient!).ToList();
        Tensor norm = GradientNorm!;
        // The norm kernel binds each slice whole, so a gradient larger than one binding goes in pieces.
        long pieceBytes = (long)Math.Min(device.MaxStorageBufferRange, int.MaxValue) / 256 * 256;
        int pieces = gradients.Sum(g => (int)((g.ByteLength + pieceBytes - 1) / pieceBytes));
        Tensor partials = Graph.NewScratch("grad_norm_partials", GradientNormKernels.PartialsBytes(pieces));
        Graph.Add("grad_norm", [.. gradients, scalars], [partials, norm], c =>
        {
            var slices = new List<BufferSlice>();
            foreach (Tensor gradient in gradients)
                for (long offset = 0; offset < gradient.ByteLength; offset += pieceBytes)
                    slices.Add(gradient.Slice.Slice(offset, Math.Min(pieceBytes, gradient.ByteLength - offset)));
            GradientNormKernels.Compute(c, slices, partials.Slice, scalars.Slice, norm.Slice);
        });
        foreach (ParameterTensors p in Parameters)
        {
            ParameterTensors parameter = p;
            int count = checked((int)parameter.Spec.ElementCount);
            Tensor? copy = WeightCopies.GetValueOrDefault(parameter.Value);
            Graph.Add("adamw " + parameter.Spec.Name, [parameter.Value, parameter.Gradient!, parameter.FirstMoment!, parameter.SecondMoment!, scalars, norm],
                copy is null ? [parameter.Value, parameter.FirstMoment!, parameter.SecondMoment!] : [parameter.Value, parameter.FirstMoment!, parameter.SecondMoment!, copy],
                c => AdamWKernels.Step(c, parameter.Value.Slice, parameter.Gradient!.Slice, parameter.FirstMoment!.Slice, parameter.SecondMoment!.Slice,
                    scalars.Slice, norm.Slice, count, parameter.Spec.WeightDecay, copy is null ? null : (copy.Slice, Precision)));
        }
    }
}
