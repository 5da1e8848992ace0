using System.Runtime.InteropServices;
using VkDiffusion.Runtime.Graph;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Model;

/// <summary>
/// A compiled <see cref="TransformerGraph"/> on a device and the host's side of it: weights and optimizer
/// state in and out, per-step inputs and scalars written into host-visible staging buffers, losses read
/// back. Each <see cref="Run"/> replays the recorded step (one queue submission, or a few under a bound). With
/// submit-ahead a step's losses and gradient norm are read by the slot <see cref="Submit"/> returned, after the next
/// step may already have been submitted.
/// </summary>
public sealed class TransformerSession : IDisposable
{
    private readonly GpuContext context;

    public TransformerGraph Model { get; }
    public CompiledGraph Compiled { get; }

    /// <param name="shareWeightsWith">Another session on the same device whose parameter buffers this one
    /// uses directly (an evaluation graph reading the training weights without copies).</param>
    /// <param name="hostInputSlots">2 lets the host write the next step's inputs while a step runs (see <see cref="CompiledGraph"/>).</param>
    /// <param name="maxSubmitMilliseconds">Bound on the device time of one submission (null: one submission per step).</param>
    /// <param name="stageStarts">Op indices where the recording is cut into separately submitted stages (see <see cref="CompiledGraph"/>).</param>
    /// <param name="submitAhead">Let a step be submitted before the previous one's outputs are read (two slots; see <see cref="CompiledGraph"/>).</param>
    public TransformerSession(GpuContext context, TransformerGraph model, bool profile = false, TransformerSession? shareWeightsWith = null,
        int hostInputSlots = 1, double? maxSubmitMilliseconds = null, IReadOnlyList<int>? stageStarts = null, bool submitAhead = false)
    {
        this.context = context;
        Model = model;
        Func<Tensor, BufferSlice?>? shared = null;
        if (shareWeightsWith is not null)
        {
            // The weights and their 16-bit copies (the same precision's, kept current by the other session's AdamW).
            var byName = shareWeightsWith.Model.Parameters.Select(p => p.Value).Concat(shareWeightsWith.Model.WeightCopies.Values)
                .ToDictionary(tensor => (tensor.Name, tensor.Role));
            shared = tensor => tensor.Role is TensorRole.Parameter or TensorRole.WeightCopy && byName.TryGetValue((tensor.Name, tensor.Role), out Tensor? other)
                ? other.Slice : null;
            // A copy of its own would go stale as soon as the other session's optimizer stepped.
            if (model.WeightCopies.Values.FirstOrDefault(copy => !byName.ContainsKey((copy.Name, copy.Role))) is Tensor unshared)
                throw new ArgumentException($"{unshared.Name} has no counterpart in the session whose weights this one shares (another precision?)",
                    nameof(shareWeightsWith));
        }
        Compiled = new CompiledGraph(context, model.Graph, profile, shared, hostInputSlots, maxSubmitMilliseconds, stageStarts, submitAhead);
        // fp16's loss scaler starts as a fresh run's does, until a run loads the state it resumes from.
        if (model.LossScale is not null) LoadLossScale(LossScaleState.Initial(LossScaleState.DefaultInitialScale), LossScaleState.DefaultGrowthInterval);
    }

    public GpuContext Context => context;

    /// <summary>
    /// Uploads the weights, then casts the 16-bit copies the matmuls of a mixed-precision graph read. A graph that does
    /// not train reads some weights only through their copies and holds no fp32 tensor for them: those are cast from a
    /// buffer that lives only for the upload.
    /// </summary>
    public void LoadParameters(IReadOnlyDictionary<string, float[]> values)
    {
        foreach (ParameterTensors parameter in Model.Parameters)
        {
            float[] data = RequireValues(parameter.Value, values.GetValueOrDefault(parameter.Spec.Name));
            if (parameter.Value.HasStorage) context.Upload<float>(parameter.Value.Slice, data);
        }
        if (Model.WeightCopies.Count == 0) return;
        var uploads = new Dictionary<Tensor, GpuBuffer>();
        try
        {
            foreach (Tensor weight in Model.WeightCopies.Keys.Where(weight => !weight.HasStorage))
                uploads[weight] = context.Upload<float>(values[weight.Name], weight.Name);
            context.Execute(c =>
            {
                foreach (var (weight, copy) in Model.WeightCopies)
                    CastKernels.To16Bit(c, weight.HasStorage ? weight.Slice : uploads[weight].Whole, copy.Slice, Model.Precision);
            });
        }
        finally
        {
            foreach (GpuBuffer upload in uploads.Values) upload.Dispose();
        }
    }

    /// <summary>The fp32 weights (of a training graph, or any graph that holds them: see <see cref="LoadParameters"/>).</summary>
    public Dictionary<string, float[]> ReadParameters() => Model.Parameters.ToDictionary(p => p.Spec.Name, p => p.Value.HasStorage
        ? context.Download<float>(p.Value.Slice)
        : throw new InvalidOperationException($"this {Model.Precision.Name()} graph holds only the 16-bit copy of {p.Spec.Name}"));

    /// <summary>AdamW moments under their checkpoint names (optimizer.exp_avg.NAME, optimizer.exp_avg_sq.NAME).</summary>
    public Dictionary<string, float[]> ReadOptimizerState()
    {
        var state = new Dictionary<string, float[]>();
        foreach (ParameterTensors parameter in RequireTraining().Parameters)
        {
            state[parameter.FirstMoment!.Name] = context.Download<float>(parameter.FirstMoment.Slice);
            state[parameter.SecondMoment!.Name] = context.Download<float>(parameter.SecondMoment.Slice);
        }
        return state;
    }

    public void LoadOptimizerState(IReadOnlyDictionary<string, float[]> state)
    {
        foreach (ParameterTensors parameter in RequireTraining().Parameters)
            foreach (Tensor moment in new[] { parameter.FirstMoment!, parameter.SecondMoment! })
            {
                if (!state.TryGetValue(moment.Name, out float[]? values))
                    throw new InvalidInputException($"optimizer state {moment.Name} is missing from the checkpoint");
                UploadChecked(moment, values);
            }
    }

    /// <summary>Zeroes the AdamW moments (a fresh run).</summary>
    public void ResetOptimizerState()
    {
        foreach (ParameterTensors parameter in RequireTraining().Parameters)
        {
            context.Upload<float>(parameter.FirstMoment!.Slice, new float[parameter.Spec.ElementCount]);
            context.Upload<float>(parameter.SecondMoment!.Slice, new float[parameter.Spec.ElementCount]);
        }
    }

    /// <summary>Sets the fp16 loss scaler's device state (a fresh run's initial scale, or a resumed run's saved state).</summary>
    public void LoadLossScale(LossScaleState state, int growthInterval) =>
        context.Upload<uint>(RequireLossScale().Slice, LossScaleKernels.Encode(state, growthInterval));

    /// <summary>The loss scaler's state after the step last submitted from <paramref name="slot"/>.</summary>
    public LossScaleState ReadLossScale(int slot) => LossScaleKernels.Decode(ReadOutput<uint>(RequireLossScale(), slot));

    private Tensor RequireLossScale() => Model.LossScale ?? throw new InvalidOperationException("only fp16 training graphs scale the loss");

    /// <summary>Writes one micro-batch's tokens, targets (AR and evaluation) and RoPE positions.</summary>
    public void WriteInputs(int microBatch, ReadOnlySpan<uint> tokens, ReadOnlySpan<uint> targets, ReadOnlySpan<uint> positions)
    {
        MicroBatchTensors inputs = Model.MicroBatches[microBatch];
        WriteHost(inputs.Tokens, tokens);
        WriteHost(inputs.Positions, positions);
        if (inputs.Targets is not null) WriteHost(inputs.Targets, targets);
    }

    /// <summary>Per-position loss weights (MDM with <see cref="MaskSource.Host"/>: mask / p).</summary>
    public void WriteLossWeights(int microBatch, ReadOnlySpan<float> weights)
    {
        Tensor tensor = Model.MicroBatches[microBatch].LossWeights ?? throw new InvalidOperationException("this graph draws its own masks");
        WriteHost(tensor, weights);
    }

    public void WriteScalars(int microBatch, StepScalars scalars)
    {
        Tensor tensor = Model.MicroBatches[microBatch].StepScalars;
        // Only micro-batches whose ops draw random numbers (MDM masks, dropout) and the first one (AdamW) read their scalars.
        if (!tensor.HasStorage) return;
        WriteHost(tensor, MemoryMarshal.CreateReadOnlySpan(ref scalars, 1));
    }

    /// <summary>Submits one step; returns its slot, by which its outputs are read.</summary>
    public int Submit() => Compiled.Submit();

    public void Wait() => Compiled.Wait();

    public void Run() => Compiled.Run();

    /// <summary>True while a submitted step has not finished.</summary>
    public bool IsRunning => Compiled.IsRunning;

    /// <summary>Losses read after the step that followed theirs had been submitted (one step late: submit-ahead at work).</summary>
    public int LossesReadLate { get; private set; }

    /// <summary>The training loss of the last step: the sum of the micro-batch losses (each already scaled by 1/micro-batches).</summary>
    public float ReadLoss() => ReadLoss(Compiled.LastSubmittedSlot);

    /// <summary>The training loss of the step last submitted from <paramref name="slot"/>.</summary>
    public float ReadLoss(int slot)
    {
        if (slot != Compiled.LastSubmittedSlot) LossesReadLate++;
        return Model.MicroBatches.Sum(m => ReadOutput<float>(m.Loss!, slot)[0]);
    }

    public (float Norm, float ClipScale) ReadGradientNorm() => ReadGradientNorm(Compiled.LastSubmittedSlot);

    /// <summary>The gradient norm and clip scale of the step last submitted from <paramref name="slot"/>.</summary>
    public (float Norm, float ClipScale) ReadGradientNorm(int slot)
    {
        float[] values = ReadOutput<float>(Model.GradientNorm ?? throw new InvalidOperationException("not a training graph"), slot);
        return (values[0], values[1]);
    }

    public float[] ReadRowLosses() =>
        ReadOutput<float>(Model.MicroBatches[0].RowLosses ?? throw new InvalidOperationException("not a row-loss graph"), Compiled.LastSubmittedSlot);

    public float[] ReadLogits() =>
        ReadOutput<float>(Model.MicroBatches[0].Logits ?? throw new InvalidOperationException("not a logits graph"), Compiled.LastSubmittedSlot);

    public Dictionary<string, float[]> ReadGradients() =>
        RequireTraining().Parameters.ToDictionary(p => p.Spec.Name, p => context.Download<float>(p.Gradient!.Slice));

    private TransformerGraph RequireTraining() =>
        Model.Mode == GraphMode.Train ? Model : throw new InvalidOperationException("this session is not a training graph");

    private void UploadChecked(Tensor tensor, float[] data) => context.Upload<float>(tensor.Slice, RequireValues(tensor, data));

    private static float[] RequireValues(Tensor tensor, float[]? data)
    {
        if (data is null) throw new InvalidInputException($"weight {tensor.Name} is missing");
        if (data.Length != tensor.ElementCount)
            throw new InvalidInputException($"{tensor.Name} has {data.Length} values; the model expects {tensor.ElementCount} ([{string.Join(", ", tensor.Shape)}])");
        return data;
    }

    private unsafe void WriteHost<T>(Tensor tensor, ReadOnlySpan<T> values) where T : unmanaged
    {
        ReadOnlySpan<byte> bytes = MemoryMarshal.AsBytes(values);
        if (bytes.Length > tensor.ByteLength) throw new ArgumentException($"{tensor.Name} holds {tensor.ByteLength} bytes; got {bytes.Length}");
        bytes.CopyTo(new Span<byte>((void*)GpuContext.HostPointer(Compiled.HostInputStaging(tensor)), bytes.Length));
    }

    /// <summary>A host output of the step last submitted from <paramref name="slot"/>, once that step has finished.</summary>
    private unsafe T[] ReadOutput<T>(Tensor tensor, int slot) where T : unmanaged
    {
        Compiled.Wait(slot);
        return new ReadOnlySpan<T>((void*)GpuContext.HostPointer(Compiled.HostOutput(tensor, slot)), (int)(tensor.ByteLength / sizeof(T))).ToArray();
    }

    public void Dispose() => Compiled.Dispose();
}
