namespace VkDiffusion.Runtime.Vulkan;

/// <summary>
/// Where a recorded <see cref="CommandList"/> is cut into separate queue submissions. A GPU behind a
/// watchdog (Windows resets one whose submission runs for ~2 s) needs every submission of a long step
/// to stay under a bound; <see cref="Bounded"/> packs the commands greedily into submissions whose
/// profiled times add up to at most the bound.
/// </summary>
public sealed class SubmissionPlan
{
    /// <summary>Command indices that start a new submission; null: every command does.</summary>
    private readonly IReadOnlySet<int>? firstCommands;

    private SubmissionPlan(IReadOnlySet<int>? firstCommands) => this.firstCommands = firstCommands;

    /// <summary>The whole recording is one submission.</summary>
    public static SubmissionPlan Whole { get; } = new(new HashSet<int>());

    /// <summary>Every command is its own submission: how a bounded graph runs the step it is profiled on.</summary>
    public static SubmissionPlan OnePerCommand { get; } = new(null);

    /// <summary>The default bound: under the ~2 s of the watchdogs that reset a GPU whose submission runs longer.</summary>
    public const double WatchdogSafeMilliseconds = 1500;

    private const uint AmdVendorId = 0x1002;

    /// <summary>
    /// The bound used when none is given. Windows resets a GPU whose submission runs past its TDR delay (2 s unless the
    /// registry's TdrDelay raises it), so every device there gets <see cref="WatchdogSafeMilliseconds"/>. On Linux the
    /// amdgpu kernel driver resets a queue whose job runs past its lockup timeout (amdgpu.lockup_timeout; recent kernels
    /// give compute queues seconds, no longer a minute), so AMD GPUs get it too. Elsewhere (NVIDIA and Intel on Linux,
    /// CPU devices such as lavapipe, macOS) a step is one submission.
    /// </summary>
    public static double? DefaultMaxMilliseconds(DeviceInfo device) =>
        OperatingSystem.IsWindows() || (OperatingSystem.IsLinux() && device.VendorId == AmdVendorId && device.DeviceType != DeviceInfo.CpuDeviceType) ? WatchdogSafeMilliseconds : null;

    /// <summary>True when command <paramref name="commandIndex"/> (dispatches and copies counted in recording order) opens a submission after the first.</summary>
    public bool StartsSubmission(int commandIndex) => commandIndex > 0 && (firstCommands?.Contains(commandIndex) ?? true);

    /// <summary>
    /// Cuts so that each submission's commands took at most <paramref name="maxMilliseconds"/> together, given
    /// each command's profiled time in recording order. A command that alone takes longer cannot be bounded:
    /// that is an <see cref="InvalidInputException"/> naming it.
    /// </summary>
    public static SubmissionPlan Bounded(IReadOnlyList<(string Label, double Milliseconds)> commandTimes, double maxMilliseconds)
    {
        var firstCommands = new HashSet<int>();
        double submissionMilliseconds = 0;
        for (int index = 0; index < commandTimes.Count; index++)
        {
            var (label, milliseconds) = commandTimes[index];
            if (milliseconds > maxMilliseconds)
                throw new InvalidInputException($"--max-submit-ms {maxMilliseconds:G} is below the longest single dispatch on this device: " +
                    $"{label} takes {milliseconds:F3} ms; raise --max-submit-ms above that (on Windows raise TdrDelay with it: docs/windows.md), " +
                    "or make the dispatch smaller: a smaller --batch, keeping the effective batch with --grad-accum.");
            if (index > 0 && submissionMilliseconds + milliseconds > maxMilliseconds)
            {
                firstCommands.Add(index);
                submissionMilliseconds = 0;
            }
            submissionMilliseconds += milliseconds;
        }
        return new SubmissionPlan(firstCommands);
    }
}
