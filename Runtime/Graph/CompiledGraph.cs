using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Graph;

/// <summary>
/// A graph with memory assigned and its ops recorded once into one command list, replayed every step.
/// Persistent tensors get their own buffers (host-visible for host outputs); transient tensors share one
/// arena laid out by <see cref="MemoryPlanner"/>. Host inputs live on the device and are copied at the
/// start of each step from host-visible staging slots: with two slots the host writes the next step's
/// inputs while the device runs the current one. With a submission bound, the first
/// <see cref="ProfiledSteps"/> steps run one submission per command with timestamps, and each command's
/// fastest time then cuts the recording into submissions that each stay under the bound
/// (<see cref="SubmissionPlan.Bounded"/>). Stage starts, if given, split the recording into command lists that
/// are submitted and waited on one by one (data-parallel training reduces gradients between them). With submit-ahead
/// each of the two slots has its own recording, which ends by copying the host outputs into the slot's readback
/// buffers: a step can then be submitted while the one before it still runs, and the earlier step's outputs stay
/// readable until its slot is submitted again.
/// </summary>
public sealed class CompiledGraph : IDisposable
{
    /// <summary>A staging slot: host-visible copies of the host inputs and the recorded copies that bring them to the device; with
    /// submit-ahead also the host-visible copies of the host outputs that the slot's recording writes at its end.</summary>
    private sealed record HostSlot(Dictionary<Tensor, BufferSlice> Staging, CommandList Upload, Dictionary<Tensor, BufferSlice>? Readback);

    /// <summary>Steps profiled before a bound cuts the recording: a CPU driver such as lavapipe compiles a
    /// pipeline at its first dispatch, so the first step alone overstates the times.</summary>
    public const int ProfiledSteps = 2;

    private readonly GpuContext context;
    private readonly List<GpuBuffer> buffers = [];
    private readonly bool profile;
    private readonly HostSlot[] hostSlots;
    /// <summary>Op indices that open each stage, the first being 0.</summary>
    private readonly int[] stageStarts;
    /// <summary>The bound still to apply: set until the profiled steps have cut the recording.</summary>
    private double? uncalibratedMaxSubmitMilliseconds;
    private int profiledStepsSubmitted;
    /// <summary>Per stage, each command's fastest time over the profiled steps so far.</summary>
    private (string Label, double Milliseconds)[][] fastestCommandTimes = [];
    private int writeSlot;
    private int runningSlot = -1;
    /// <summary>The step's stages, once per slot with submit-ahead, else one recording every slot uses.</summary>
    private CommandList[][] recordings;

    public ComputeGraph Graph { get; }
    /// <summary>The command lists of the step in order, each with its own fence; one unless stages were asked for.
    /// With submit-ahead, slot 0's (the slots' recordings hold the same commands).</summary>
    public IReadOnlyList<CommandList> Stages => recordings[0];
    /// <summary>The recording of a graph compiled as one stage.</summary>
    public CommandList Commands => recordings[0].Length == 1 ? recordings[0][0] : throw new InvalidOperationException("this graph is recorded in stages; use Stages");
    /// <summary>Whether a step may be submitted while the one before it still runs (each slot has its own recording).</summary>
    public bool SubmitsAhead => recordings.Length > 1;
    /// <summary>The slot of the last submitted step (-1 before the first).</summary>
    public int LastSubmittedSlot => runningSlot;
    public MemoryReport Memory { get; }

    /// <param name="hostInputSlots">1: the host writes inputs only between steps; 2: it may write the next
    /// step's while one runs, and must then write every input for every step.</param>
    /// <param name="maxSubmitMilliseconds">Bound on one submission's device time, or null for one submission per step.</param>
    /// <param name="stageStarts">Op indices, ascending and above 0, where a new stage (command list) begins; none: one stage.</param>
    /// <param name="submitAhead">Record the step once per slot, each copying the host outputs into its slot's readback
    /// buffers, so that the next step can be submitted before this one's outputs are read (two slots, one stage).</param>
    public CompiledGraph(GpuContext context, ComputeGraph graph, bool profile = false, Func<Tensor, BufferSlice?>? sharedStorage = null,
        int hostInputSlots = 1, double? maxSubmitMilliseconds = null, IReadOnlyList<int>? stageStarts = null, bool submitAhead = false)
    {
        if (hostInputSlots is not (1 or 2)) throw new ArgumentOutOfRangeException(nameof(hostInputSlots), "one or two host input slots");
        if (submitAhead && (hostInputSlots != 2 || stageStarts is { Count: > 0 }))
            throw new ArgumentException("submit-ahead needs two host input slots and a step recorded as one stage", nameof(submitAhead));
        if (maxSubmitMilliseconds is <= 0) throw new ArgumentOutOfRangeException(nameof(maxSubmitMilliseconds), "the submission bound must be positive");
        this.stageStarts = [0, .. stageStarts ?? []];
        for (int stage = 1; stage < this.stageStarts.Length; stage++)
            if (this.stageStarts[stage] <= this.stageStarts[stage - 1] || this.stageStarts[stage] >= graph.Ops.Count)
                throw new ArgumentOutOfRangeException(nameof(stageStarts), "stage starts must ascend inside the op list");
        this.context = context;
        this.profile = profile;
        Graph = graph;
        long alignment = context.Memory.Alignment;
        var used = graph.Ops.SelectMany(op => op.Reads.Concat(op.Writes)).Select(t => t.Storage).ToHashSet();

        var persistentBytes = new Dictionary<TensorRole, long>();
        var hostInputs = new List<Tensor>();
        var hostOutputs = new List<Tensor>();
        foreach (Tensor tensor in graph.Tensors.Where(t => t.AliasOf is null && t.Role != TensorRole.Transient && used.Contains(t)))
        {
            if (sharedStorage?.Invoke(tensor) is BufferSlice shared)
            {
                tensor.Slice = shared;
                continue;
            }
            MemoryKind kind = tensor.Role == TensorRole.HostOutput ? MemoryKind.HostVisible : MemoryKind.DeviceLocal;
            GpuBuffer buffer = context.Memory.Allocate(tensor.ByteLength, tensor.Name, kind);
            buffers.Add(buffer);
            tensor.Slice = buffer.Whole;
            long bytes = MemoryPlanner.AlignUp(tensor.ByteLength, alignment);
            if (tensor.Role == TensorRole.HostInput)
            {
                hostInputs.Add(tensor);
                bytes *= 1 + hostInputSlots;
            }
            if (tensor.Role == TensorRole.HostOutput && submitAhead)
            {
                hostOutputs.Add(tensor);
                bytes *= 1 + hostInputSlots;
            }
            persistentBytes[tensor.Role] = persistentBytes.GetValueOrDefault(tensor.Role) + bytes;
        }
        hostSlots = Enumerable.Range(0, hostInputSlots).Select(slot => CreateHostSlot(hostInputs, hostOutputs, slot)).ToArray();

        MemoryPlanner.Plan plan = MemoryPlanner.PlaceTransients(graph, alignment);
        if (plan.ArenaBytes > 0)
        {
            GpuBuffer arena = context.Memory.Allocate(plan.ArenaBytes, "activation-arena");
            buffers.Add(arena);
            foreach (var (tensor, offset) in plan.Offsets) tensor.Slice = arena.Slice(offset, tensor.ByteLength);
        }
        Memory = new MemoryReport(persistentBytes, plan.ArenaBytes, plan.UnplannedBytes);

        SubmissionPlan[] Every(SubmissionPlan plan) => Enumerable.Repeat(plan, this.stageStarts.Length).ToArray();
        int recordingCount = submitAhead ? hostInputSlots : 1;
        if (maxSubmitMilliseconds is null) recordings = Record(recordingCount, profile, Every(SubmissionPlan.Whole));
        else if (!context.Info.Timestamps) recordings = Record(recordingCount, profile, Every(SubmissionPlan.OnePerCommand)); // nothing to estimate from: bound every command
        else
        {
            recordings = Record(recordingCount, profiled: true, Every(SubmissionPlan.OnePerCommand));
            uncalibratedMaxSubmitMilliseconds = maxSubmitMilliseconds;
        }
    }

    private CommandList[][] Record(int recordingCount, bool profiled, SubmissionPlan[] plans) =>
        Enumerable.Range(0, recordingCount).Select(slot => Record(profiled, plans, hostSlots[slot].Readback)).ToArray();

    /// <param name="readback">Where the last stage copies the host outputs at its end, or null.</param>
    private CommandList[] Record(bool profiled, SubmissionPlan[] plans, Dictionary<Tensor, BufferSlice>? readback)
    {
        var recorded = new CommandList[stageStarts.Length];
        for (int stage = 0; stage < recorded.Length; stage++)
        {
            int end = stage + 1 < stageStarts.Length ? stageStarts[stage + 1] : Graph.Ops.Count;
            CommandList commands = context.CreateCommandList(profiled, maxProfiledCommands: Math.Max(64, (end - stageStarts[stage]) * 64), plans[stage]);
            for (int op = stageStarts[stage]; op < end; op++) Graph.Ops[op].Record(commands);
            if (stage == recorded.Length - 1 && readback is not null)
                foreach (var (output, copy) in readback) commands.Copy(output.Slice, copy);
            recorded[stage] = commands.End();
        }
        return recorded;
    }

    private HostSlot CreateHostSlot(IReadOnlyList<Tensor> hostInputs, IReadOnlyList<Tensor> hostOutputs, int slot)
    {
        var staging = new Dictionary<Tensor, BufferSlice>();
        CommandList upload = context.CreateCommandList();
        foreach (Tensor tensor in hostInputs)
        {
            GpuBuffer buffer = context.Memory.Allocate(tensor.ByteLength, $"{tensor.Name}.staging{slot}", MemoryKind.HostVisible);
            buffers.Add(buffer);
            staging[tensor] = buffer.Whole;
            upload.Copy(buffer.Whole, tensor.Slice);
        }
        if (hostOutputs.Count == 0) return new HostSlot(staging, upload.End(), Readback: null);
        var readback = new Dictionary<Tensor, BufferSlice>();
        foreach (Tensor tensor in hostOutputs)
        {
            GpuBuffer buffer = context.Memory.Allocate(tensor.ByteLength, $"{tensor.Name}.readback{slot}", MemoryKind.HostVisible);
            buffers.Add(buffer);
            readback[tensor] = buffer.Whole;
        }
        return new HostSlot(staging, upload.End(), readback);
    }

    /// <summary>
    /// Where the host writes <paramref name="input"/> for the next step: a host-visible staging range, free
    /// to write once this returns (it waits only when a submitted step still reads the same slot).
    /// </summary>
    public BufferSlice HostInputStaging(Tensor input)
    {
        Wait(writeSlot);
        return hostSlots[writeSlot].Staging[input.Storage];
    }

    /// <summary>
    /// Where the host reads <paramref name="output"/> of the step last submitted from <paramref name="slot"/>, once
    /// <see cref="Wait(int)"/> returned: its slot's readback with submit-ahead; else the output itself, which only the
    /// last submitted step's values are in.
    /// </summary>
    public BufferSlice HostOutput(Tensor output, int slot)
    {
        if (slot < 0) throw new InvalidOperationException($"no step was submitted, so there is no {output.Name} to read");
        if (hostSlots[slot].Readback is { } readback) return readback[output.Storage];
        if (slot != runningSlot) throw new InvalidOperationException($"only the last submitted step's {output.Name} is kept (submit-ahead is off)");
        return output.Slice;
    }

    /// <summary>Submits one step: the copies of the written inputs, then the recorded ops. Returns the step's slot, by
    /// which its host outputs are read (<see cref="HostOutput"/>).</summary>
    public int Submit()
    {
        for (int stage = 0; stage < recordings[0].Length; stage++) SubmitStage(stage);
        return runningSlot;
    }

    /// <summary>The recording a step submitted from <paramref name="slot"/> runs.</summary>
    private CommandList[] RecordingOf(int slot) => recordings[slot % recordings.Length];

    /// <summary>Whether a step submitted from <paramref name="slot"/> may still run: with one recording shared by the
    /// slots, its fence belongs to whichever step was submitted last.</summary>
    private bool MayRun(int slot) => SubmitsAhead || slot == runningSlot;

    /// <summary>
    /// Submits one stage of the step; stage 0 carries the copies of the written inputs. The stages of a step must be
    /// submitted in order, and a stage's host-written inputs written before it is submitted.
    /// </summary>
    public void SubmitStage(int stage)
    {
        if (stage == 0 && uncalibratedMaxSubmitMilliseconds is double maxMilliseconds && profiledStepsSubmitted > 0)
        {
            (string Label, double Milliseconds)[][] times = RecordingOf(runningSlot).Select(commands => commands.ReadTimings().ToArray()).ToArray();
            fastestCommandTimes = profiledStepsSubmitted == 1
                ? times
                : fastestCommandTimes.Zip(times, (fastest, latest) =>
                    fastest.Zip(latest, (f, l) => f with { Milliseconds = Math.Min(f.Milliseconds, l.Milliseconds) }).ToArray()).ToArray();
            if (profiledStepsSubmitted == ProfiledSteps)
                CutSubmissions(fastestCommandTimes.Select(stageTimes => SubmissionPlan.Bounded(stageTimes, maxMilliseconds)).ToArray());
        }
        if (stage > 0)
        {
            context.Submit(RecordingOf(runningSlot)[stage]);
            return;
        }
        context.Submit(RecordingOf(writeSlot)[0], prelude: hostSlots[writeSlot].Upload);
        if (uncalibratedMaxSubmitMilliseconds is not null) profiledStepsSubmitted++;
        runningSlot = writeSlot;
        writeSlot = (writeSlot + 1) % hostSlots.Length;
    }

    /// <summary>Records the ops again, cut into submissions where <paramref name="plan"/> says; replaces any bound still to calibrate.</summary>
    public void CutSubmissions(SubmissionPlan plan) => CutSubmissions(Enumerable.Repeat(plan, recordings[0].Length).ToArray());

    /// <summary>Records the ops again, each stage cut where its plan says; replaces any bound still to calibrate.</summary>
    private void CutSubmissions(SubmissionPlan[] plans)
    {
        CommandList[][] previous = recordings;
        recordings = Record(previous.Length, profile, plans);
        // Disposing waits for a step still running; its outputs stay in its slot's readback.
        foreach (CommandList commands in previous.SelectMany(recording => recording)) commands.Dispose();
        uncalibratedMaxSubmitMilliseconds = null;
    }

    /// <summary>Waits for every submitted step (each recording's last stage; the queue runs the stages in order).</summary>
    public void Wait()
    {
        foreach (CommandList[] recording in recordings) context.Wait(recording[^1]);
    }

    /// <summary>Waits for the step last submitted from <paramref name="slot"/>.</summary>
    public void Wait(int slot)
    {
        if (MayRun(slot)) context.Wait(RecordingOf(slot)[^1]);
    }

    public void WaitStage(int stage) => context.Wait(recordings[0][stage]);

    /// <summary>True while a submitted step has not finished.</summary>
    public bool IsRunning => recordings.Any(recording => context.IsRunning(recording[^1]));

    /// <summary>True while the step last submitted from <paramref name="slot"/> has not finished.</summary>
    public bool IsSlotRunning(int slot) => MayRun(slot) && context.IsRunning(RecordingOf(slot)[^1]);

    public bool IsStageRunning(int stage) => context.IsRunning(recordings[0][stage]);

    public void Run()
    {
        Submit();
        Wait();
    }

    public void Dispose()
    {
        foreach (CommandList commands in recordings.SelectMany(recording => recording)) commands.Dispose();
        foreach (HostSlot slot in hostSlots) slot.Upload.Dispose();
        foreach (GpuBuffer buffer in buffers) buffer.Dispose();
    }
}

/// <summary>Device memory a compiled graph needs, by kind.</summary>
public sealed record MemoryReport(IReadOnlyDictionary<TensorRole, long> PersistentBytes, long ArenaBytes, long UnplannedTransientBytes)
{
    public long TotalBytes => PersistentBytes.Values.Sum() + ArenaBytes;
    public long Bytes(TensorRole role) => PersistentBytes.GetValueOrDefault(role);
}
