using VkDiffusion.Runtime.Distributed;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Experiments;

/// <summary>
/// Which runs of a sweep one worker owns: run i (in <see cref="Sweep.Expand"/> order) belongs to worker
/// i mod Count, so N workers split the spec without talking to each other.
/// </summary>
public readonly record struct SweepShard(int Index, int Count, string Source)
{
    public static readonly SweepShard Whole = new(0, 1, "a single worker");

    public bool Owns(int runIndex) => runIndex % Count == Index;

    public override string ToString() => $"{Index}/{Count}";

    /// <summary>Parses --shard I/N (0 &lt;= I &lt; N).</summary>
    public static SweepShard Parse(string text)
    {
        string[] parts = text.Split('/');
        if (parts.Length == 2 && int.TryParse(parts[0], out int index) && int.TryParse(parts[1], out int count) && count >= 1 && index >= 0 && index < count)
            return new SweepShard(index, count, "--shard");
        throw new VkDiffusionException($"--shard '{text}' must be I/N with 0 <= I < N, e.g. --shard 0/4.", ExitCodes.Usage);
    }

    /// <summary>
    /// The shard a launcher gave this process: a Slurm job array (task id minus the array's first id, out of its
    /// task count), else the rank and size of mpirun, Hydra or srun; a plain process is the whole sweep.
    /// </summary>
    public static SweepShard FromEnvironment(Func<string, string?> variable)
    {
        string? taskId = variable("SLURM_ARRAY_TASK_ID"), taskCount = variable("SLURM_ARRAY_TASK_COUNT");
        if (taskId is not null && taskCount is not null)
        {
            int first = variable("SLURM_ARRAY_TASK_MIN") is { } min ? LauncherEnvironment.ParseCount(min, "SLURM_ARRAY_TASK_MIN") : 0;
            ProcessRank task = LauncherEnvironment.Validated(LauncherEnvironment.ParseCount(taskId, "SLURM_ARRAY_TASK_ID") - first,
                LauncherEnvironment.ParseCount(taskCount, "SLURM_ARRAY_TASK_COUNT"), "SLURM_ARRAY_TASK_ID-SLURM_ARRAY_TASK_MIN/SLURM_ARRAY_TASK_COUNT");
            return new SweepShard(task.Rank, task.Size, "the Slurm job array");
        }
        return LauncherEnvironment.Read(variable) is { } rank ? new SweepShard(rank.Rank, rank.Size, rank.Source) : Whole;
    }
}
