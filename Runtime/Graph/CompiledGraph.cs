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
/// (<see cref="SubmissionPlan.Bounded"/>).
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
    /// <summary>The bound still to apply: set until the profiled steps have cut the recording.</summary>
    private double? uncalibratedMaxSubmitMilliseconds;
    private int profiledStepsSubmitted;
    /// <summary>Each command's fastest time over the profiled steps so far.</summary>
    private (string Label, double Milliseconds)[] fastestCommandTimes = [];
    private int writeSlot;
    private int runningSlot = -1;

    public ComputeGraph Graph { get; }
    public CommandList Commands { get; private set; }
    public MemoryReport Memory { get; }

    /// <param name="hostInputSlots">1: the host writes inputs only between steps; 2: it may write the next
    /// step's while one runs, and must then write every input for every step.</param>
    /// <param name="maxSubmitMilliseconds">Bound on one submission's device time, or null for one submission per step.</param>
    public CompiledGraph(GpuContext context, ComputeGraph graph, bool profile = false, Func<Tensor, BufferSlice?>? sharedStorage = null,
        int hostInputSlots = 1, double? maxSubmitMilliseconds = null)
    {
        if (hostInputSlots is not (1 or 2)) throw new ArgumentOutOfRangeException(nameof(hostInputSlots), "one or two host input slots");
        if (maxSubmitMilliseconds is <= 0) throw new ArgumentOutOfRangeException(nameof(maxSubmitMilliseconds), "the submission bound must be positive");
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

        if (maxSubmitMilliseconds is null) Commands = Record(profile, SubmissionPlan.Whole);
        else if (!context.Info.Timestamps) Commands = Record(profile, SubmissionPlan.OnePerCommand); // nothing to estimate from: bound every command
        else
        {
            Commands = Record(profiled: true, SubmissionPlan.OnePerCommand);
            uncalibratedMaxSubmitMilliseconds = maxSubmitMilliseconds;
        }
    }

    private CommandList Record(bool profiled, SubmissionPlan plan)
    {
        CommandList commands = context.CreateCommandList(profiled, maxProfiledCommands: Math.Max(64, Graph.Ops.Count * 64), plan);
        foreach (GraphOp op in Graph.Ops) op.Record(commands);
        return commands.End();
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
        if (uncalibratedMaxSubmitMilliseconds is double maxMilliseconds && profiledStepsSubmitted > 0)
        {
            IReadOnlyList<(string Label, double Milliseconds)> times = Commands.ReadTimings();
            fastestCommandTimes = profiledStepsSubmitted == 1
                ? [.. times]
                : fastestCommandTimes.Zip(times, (fastest, latest) => fastest with { Milliseconds = Math.Min(fastest.Milliseconds, latest.Milliseconds) }).ToArray();
            if (profiledStepsSubmitted == ProfiledSteps) CutSubmissions(SubmissionPlan.Bounded(fastestCommandTimes, maxMilliseconds));
        }
        context.Submit(Commands, prelude: inputSlots[writeSlot].Upload);
        if (uncalibratedMaxSubmitMilliseconds is not null) profiledStepsSubmitted++;
        runningSlot = writeSlot;
        writeSlot = (writeSlot + 1) % inputSlots.Length;
    }

    /// <summary>Records the ops again, cut into submissions where <paramref name="plan"/> says; replaces any bound still to calibrate.</summary>
    public void CutSubmissions(SubmissionPlan plan)
    {
        CommandList previous = Commands;
        Commands = Record(profile, plan);
        previous.Dispose();
        uncalibratedMaxSubmitMilliseconds = null;
    }

    public void Wait() => context.Wait(Commands);

    /// <summary>True while the last submitted step has not finished.</summary>
    public bool IsRunning => context.IsRunning(Commands);

    public void Run()
    {
        Submit();
        Wait();
    }

    public void Dispose()
    {
        Commands.Dispose();
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
