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
            var byName = shareWeightsWith.Model.Parameters.ToDictionary(p => p.Spec.Name, p => p.Value);
            shared = tensor => tensor.Role == TensorRole.Parameter && byName.TryGetValue(tensor.Name, out Tensor? other) ? other.Slice : null;
        }
        Compiled = new CompiledGraph(context, model.Graph, profile, shared, hostInputSlots, maxSubmitMilliseconds, stageStarts, submitAhead);
    }

    public GpuContext Context => context;

    public void LoadParameters(IReadOnlyDictionary<string, float[]> values) => Load(values, p => p.Value);

    public Dictionary<string, float[]> ReadParameters() => Read(p => p.Value);

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

    private void Load(IReadOnlyDictionary<string, float[]> values, Func<ParameterTensors, Tensor> select)
    {
        foreach (ParameterTensors parameter in Model.Parameters)
        {
            if (!values.TryGetValue(parameter.Spec.Name, out float[]? data))
                throw new InvalidInputException($"weight {parameter.Spec.Name} is missing");
            UploadChecked(select(parameter), data);
        }
    }

    private void UploadChecked(Tensor tensor, float[] data)
    {
        if (data.Length != tensor.ElementCount)
            throw new InvalidInputException($"{tensor.Name} has {data.Length} values; the model expects {tensor.ElementCount} ([{string.Join(", ", tensor.Shape)}])");
        context.Upload<float>(tensor.Slice, data);
    }

    private Dictionary<string, float[]> Read(Func<ParameterTensors, Tensor> select) =>
        Model.Parameters.ToDictionary(p => p.Spec.Name, p => context.Download<float>(select(p).Slice));

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
