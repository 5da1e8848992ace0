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
/// are submitted and waited on one by one (data-parallel training reduces gradients between them).
/// </summary>
public sealed class CompiledGraph : IDisposable
{
    /// <summary>Host-visible copies of the host inputs and the recorded copies that bring them to the device.</summary>
    private sealed record HostInputSlot(Dictionary<Tensor, BufferSlice> Staging, CommandList Upload);

    /// <summary>Steps profiled before a bound cuts the recording: a CPU driver such as lavapipe compiles a
    /// pipeline at its first dispatch, so the first step alone overstates the times.</summary>
    public const int ProfiledSteps = 2;

    private readonly GpuContext context;
    private readonly List<GpuBuffer> buffers = [];
    private readonly bool profile;
    private readonly HostInputSlot[] inputSlots;
    /// <summary>Op indices that open each stage, the first being 0.</summary>
    private readonly int[] stageStarts;
    /// <summary>The bound still to apply: set until the profiled steps have cut the recording.</summary>
    private double? uncalibratedMaxSubmitMilliseconds;
    private int profiledStepsSubmitted;
    /// <summary>Per stage, each command's fastest time over the profiled steps so far.</summary>
    private (string Label, double Milliseconds)[][] fastestCommandTimes = [];
    private int writeSlot;
    private int runningSlot = -1;
    private CommandList[] stages;

    public ComputeGraph Graph { get; }
    /// <summary>The command lists of the step in order, each with its own fence; one unless stages were asked for.</summary>
    public IReadOnlyList<CommandList> Stages => stages;
    /// <summary>The recording of a graph compiled as one stage.</summary>
    public CommandList Commands => stages.Length == 1 ? stages[0] : throw new InvalidOperationException("this graph is recorded in stages; use Stages");
    public MemoryReport Memory { get; }

    /// <param name="hostInputSlots">1: the host writes inputs only between steps; 2: it may write the next
    /// step's while one runs, and must then write every input for every step.</param>
    /// <param name="maxSubmitMilliseconds">Bound on one submission's device time, or null for one submission per step.</param>
    /// <param name="stageStarts">Op indices, ascending and above 0, where a new stage (command list) begins; none: one stage.</param>
    public CompiledGraph(GpuContext context, ComputeGraph graph, bool profile = false, Func<Tensor, BufferSlice?>? sharedStorage = null,
        int hostInputSlots = 1, double? maxSubmitMilliseconds = null, IReadOnlyList<int>? stageStarts = null)
    {
        if (hostInputSlots is not (1 or 2)) throw new ArgumentOutOfRangeException(nameof(hostInputSlots), "one or two host input slots");
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
            persistentBytes[tensor.Role] = persistentBytes.GetValueOrDefault(tensor.Role) + bytes;
        }
        inputSlots = Enumerable.Range(0, hostInputSlots).Select(slot => CreateInputSlot(hostInputs, slot)).ToArray();

        MemoryPlanner.Plan plan = MemoryPlanner.PlaceTransients(graph, alignment);
        if (plan.ArenaBytes > 0)
        {
            GpuBuffer arena = context.Memory.Allocate(plan.ArenaBytes, "activation-arena");
            buffers.Add(arena);
            foreach (var (tensor, offset) in plan.Offsets) tensor.Slice = arena.Slice(offset, tensor.ByteLength);
        }
        Memory = new MemoryReport(persistentBytes, plan.ArenaBytes, plan.UnplannedBytes);

        SubmissionPlan[] Every(SubmissionPlan plan) => Enumerable.Repeat(plan, this.stageStarts.Length).ToArray();
        if (maxSubmitMilliseconds is null) stages = Record(profile, Every(SubmissionPlan.Whole));
        else if (!context.Info.Timestamps) stages = Record(profile, Every(SubmissionPlan.OnePerCommand)); // nothing to estimate from: bound every command
        else
        {
            stages = Record(profiled: true, Every(SubmissionPlan.OnePerCommand));
            uncalibratedMaxSubmitMilliseconds = maxSubmitMilliseconds;
        }
    }

    private CommandList[] Record(bool profiled, SubmissionPlan[] plans)
    {
        var recorded = new CommandList[stageStarts.Length];
        for (int stage = 0; stage < recorded.Length; stage++)
        {
            int end = stage + 1 < stageStarts.Length ? stageStarts[stage + 1] : Graph.Ops.Count;
            CommandList commands = context.CreateCommandList(profiled, maxProfiledCommands: Math.Max(64, (end - stageStarts[stage]) * 64), plans[stage]);
            for (int op = stageStarts[stage]; op < end; op++) Graph.Ops[op].Record(commands);
            recorded[stage] = commands.End();
        }
        return recorded;
    }

    private HostInputSlot CreateInputSlot(IReadOnlyList<Tensor> hostInputs, int slot)
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
        return new HostInputSlot(staging, upload.End());
    }

    /// <summary>
    /// Where the host writes <paramref name="input"/> for the next step: a host-visible staging range, free
    /// to write once this returns (it waits only when the running step still reads the same slot).
    /// </summary>
    public BufferSlice HostInputStaging(Tensor input)
    {
        if (writeSlot == runningSlot) Wait();
        return inputSlots[writeSlot].Staging[input.Storage];
    }

    /// <summary>Submits one step: the copies of the written inputs, then the recorded ops.</summary>
    public void Submit()
    {
        for (int stage = 0; stage < stages.Length; stage++) SubmitStage(stage);
    }

    /// <summary>
    /// Submits one stage of the step; stage 0 carries the copies of the written inputs. The stages of a step must be
    /// submitted in order, and a stage's host-written inputs written before it is submitted.
    /// </summary>
    public void SubmitStage(int stage)
    {
        if (stage == 0 && uncalibratedMaxSubmitMilliseconds is double maxMilliseconds && profiledStepsSubmitted > 0)
        {
            (string Label, double Milliseconds)[][] times = stages.Select(commands => commands.ReadTimings().ToArray()).ToArray();
            fastestCommandTimes = profiledStepsSubmitted == 1
                ? times
                : fastestCommandTimes.Zip(times, (fastest, latest) =>
                    fastest.Zip(latest, (f, l) => f with { Milliseconds = Math.Min(f.Milliseconds, l.Milliseconds) }).ToArray()).ToArray();
            if (profiledStepsSubmitted == ProfiledSteps)
                CutSubmissions(fastestCommandTimes.Select(stageTimes => SubmissionPlan.Bounded(stageTimes, maxMilliseconds)).ToArray());
        }
        if (stage > 0)
        {
            context.Submit(stages[stage]);
            return;
        }
        context.Submit(stages[0], prelude: inputSlots[writeSlot].Upload);
        if (uncalibratedMaxSubmitMilliseconds is not null) profiledStepsSubmitted++;
        runningSlot = writeSlot;
        writeSlot = (writeSlot + 1) % inputSlots.Length;
    }

    /// <summary>Records the ops again, cut into submissions where <paramref name="plan"/> says; replaces any bound still to calibrate.</summary>
    public void CutSubmissions(SubmissionPlan plan) => CutSubmissions(Enumerable.Repeat(plan, stages.Length).ToArray());

    /// <summary>Records the ops again, each stage cut where its plan says; replaces any bound still to calibrate.</summary>
    private void CutSubmissions(SubmissionPlan[] plans)
    {
        CommandList[] previous = stages;
        stages = Record(profile, plans);
        foreach (CommandList commands in previous) commands.Dispose();
        uncalibratedMaxSubmitMilliseconds = null;
    }

    /// <summary>Waits for the whole step (its last stage; the queue runs the stages in order).</summary>
    public void Wait() => context.Wait(stages[^1]);

    public void WaitStage(int stage) => context.Wait(stages[stage]);

    /// <summary>True while the last submitted step has not finished.</summary>
    public bool IsRunning => context.IsRunning(stages[^1]);

    public bool IsStageRunning(int stage) => context.IsRunning(stages[stage]);

    public void Run()
    {
        Submit();
        Wait();
    }

    public void Dispose()
    {
        foreach (CommandList commands in stages) commands.Dispose();
        foreach (HostInputSlot slot in inputSlots) slot.Upload.Dispose();
        foreach (GpuBuffer buffer in buffers) buffer.Dispose();
    }
}

/// <summary>Device memory a compiled graph needs, by kind.</summary>
public sealed record MemoryReport(IReadOnlyDictionary<TensorRole, long> PersistentBytes, long ArenaBytes, long UnplannedTransientBytes)
{
    public long TotalBytes => PersistentBytes.Values.Sum() + ArenaBytes;
    public long Bytes(TensorRole role) => PersistentBytes.GetValueOrDefault(role);
}
