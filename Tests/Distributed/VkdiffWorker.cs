using System.Diagnostics;
using System.Text;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Distributed;

/// <summary>
/// The built vkdiff running in a child process (or several, under mpirun) on lavapipe, its output collected line by line so a test can act
/// when a given line appears. Launcher variables the test runner itself may carry are removed, so a worker sees
/// only the ones its test sets.
/// </summary>
internal sealed class VkdiffWorker : IDisposable
{
    private static readonly string[] LauncherVariables =
    [
        "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_STEP_NUM_TASKS",
        "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMI_SIZE",
    ];

    private readonly Process process;
    private readonly StringBuilder output = new(), error = new();
    private readonly List<(Func<string, bool> Matches, TaskCompletionSource Seen)> watches = [];

    /// <summary>The vkdiff this suite built, as the tail of a command line.</summary>
    private static string[] BuiltVkdiff => ["dotnet", Path.Combine(AppContext.BaseDirectory, "vkdiff.dll")];

    /// <summary>Runs <paramref name="command"/> (a vkdiff, after the launcher it runs under, if any) with <paramref name="arguments"/>.</summary>
    private VkdiffWorker(IReadOnlyDictionary<string, string>? environment, string[] command, string[] arguments)
    {
        TestEnvironment.Configure();
        var start = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string word in command.Skip(1)) start.ArgumentList.Add(word);
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        foreach (string name in LauncherVariables) start.Environment.Remove(name);
        start.Environment["VK_DRIVER_FILES"] = GpuFixture.LavapipeIcd;
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, line) => OnLine(output, line.Data);
        process.ErrorDataReceived += (_, line) => OnLine(error, line.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public static VkdiffWorker Start(IReadOnlyDictionary<string, string>? environment, params string[] arguments) => new(environment, BuiltVkdiff, arguments);

    /// <summary>Starts another vkdiff: <paramref name="command"/> is its command line before the arguments (e.g. wine and a Windows build).</summary>
    public static VkdiffWorker StartCommand(IReadOnlyDictionary<string, string>? environment, string[] command, params string[] arguments) =>
        new(environment, command, arguments);

    /// <summary>Runs vkdiff to its end and returns its exit code and output.</summary>
    public static (int ExitCode, string Output, string Error) Run(IReadOnlyDictionary<string, string>? environment, params string[] arguments)
    {
        using var worker = Start(environment, arguments);
        return worker.WaitForExit();
    }

    /// <summary>Runs vkdiff as <paramref name="ranks"/> MPI ranks on this machine (Open MPI's mpirun, allowed to run as root).</summary>
    public static (int ExitCode, string Output, string Error) RunUnderMpirun(int ranks, params string[] arguments) =>
        RunUnderMpirun(ranks, null, arguments);

    public static (int ExitCode, string Output, string Error) RunUnderMpirun(int ranks, IReadOnlyDictionary<string, string>? environment, params string[] arguments)
    {
        using var worker = StartUnderMpirun(ranks, environment, arguments);
        return worker.WaitForExit();
    }

    /// <summary>Runs vkdiff as <paramref name="ranks"/> MPICH ranks, launched by MPICH's mpiexec (named explicitly: mpirun stays Open MPI's).</summary>
    public static (int ExitCode, string Output, string Error) RunUnderMpich(int ranks, params string[] arguments)
    {
        using var worker = new VkdiffWorker(null, [MpichFactAttribute.Mpiexec, "-n", ranks.ToString(), .. BuiltVkdiff], arguments);
        return worker.WaitForExit();
    }

    /// <summary>Runs one vkdiff rank per command line of <paramref name="argumentsByRank"/>, as one MPI job (mpirun's colon syntax).</summary>
    public static (int ExitCode, string Output, string Error) RunRanksUnderMpirun(params string[][] argumentsByRank)
    {
        string[] arguments = [.. argumentsByRank[0], .. argumentsByRank.Skip(1).SelectMany(rank => (string[])[":", "-np", "1", .. BuiltVkdiff, .. rank])];
        using var worker = new VkdiffWorker(RootAllowed(null), ["mpirun", "--oversubscribe", "-np", "1", .. BuiltVkdiff], arguments);
        return worker.WaitForExit();
    }

    private static Dictionary<string, string> RootAllowed(IReadOnlyDictionary<string, string>? environment) =>
        new(environment ?? new Dictionary<string, string>())
        {
            ["OMPI_ALLOW_RUN_AS_ROOT"] = "1",
            ["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1",
        };

    /// <summary>Starts vkdiff as <paramref name="ranks"/> MPI ranks; the ranks inherit <paramref name="environment"/> through mpirun.</summary>
    public static VkdiffWorker StartUnderMpirun(int ranks, IReadOnlyDictionary<string, string>? environment, params string[] arguments)
        => new(RootAllowed(environment), ["mpirun", "-np", ranks.ToString(), "--oversubscribe", .. BuiltVkdiff], arguments);

    /// <summary>
    /// Submits vkdiff as a Slurm job array of <paramref name="tasks"/> tasks to the Slurm of <paramref name="slurmConf"/> and waits
    /// for every task to end (sbatch --wait: its exit code is the worst task's). Task i writes its output to
    /// <paramref name="logDirectory"/>/task-i.out. The tasks inherit this process's environment, so they run on the same devices.
    /// </summary>
    public static (int ExitCode, string Output, string Error) RunAsSbatchArray(int tasks, string slurmConf, string logDirectory, params string[] arguments)
    {
        // sbatch runs a script; this one runs the command line it is given.
        string script = Path.Combine(logDirectory, "run-arguments.sbatch");
        File.WriteAllText(script, "#!/bin/bash\nexec \"$@\"\n");
        string[] sbatch = ["sbatch", "--wait", $"--array=0-{tasks - 1}", "--time=10", $"--output={Path.Combine(logDirectory, "task-%a.out")}", script];
        using var worker = new VkdiffWorker(new Dictionary<string, string> { ["SLURM_CONF"] = slurmConf }, [.. sbatch, .. BuiltVkdiff], arguments);
        return worker.WaitForExit();
    }

    private void OnLine(StringBuilder text, string? line)
    {
        if (line is null) return;
        lock (text) text.AppendLine(line);
        lock (watches)
            foreach (var (matches, seen) in watches)
                if (matches(line)) seen.TrySetResult();
    }

    /// <summary>Completes when a line of standard output starting with <paramref name="prefix"/> appears.</summary>
    public Task LineStartingWith(string prefix) => Line(line => line.StartsWith(prefix, StringComparison.Ordinal));

    /// <summary>Completes when a line of standard output that <paramref name="matches"/> appears.</summary>
    public Task Line(Func<string, bool> matches)
    {
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (watches) watches.Add((matches, seen));
        lock (output)
            if (output.ToString().Split('\n').Any(matches)) seen.TrySetResult();
        return seen.Task;
    }

    public (int ExitCode, string Output, string Error) WaitForExit()
    {
        process.WaitForExit();
        lock (output) lock (error) return (process.ExitCode, output.ToString(), error.ToString());
    }

    /// <summary>Sends the signal <paramref name="name"/> (e.g. USR1) to the process started: vkdiff, or the launcher vkdiff runs under.</summary>
    public void Signal(string name) => Process.Start("kill", [$"-{name}", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();

    /// <summary>Ends the worker with SIGKILL, as a node failure or the OOM killer would, and waits until it is gone.</summary>
    public void KillHard()
    {
        process.Kill(entireProcessTree: true);
        process.WaitForExit();
    }

    public void Dispose()
    {
        if (!process.HasExited) KillHard();
        process.Dispose();
    }
}
