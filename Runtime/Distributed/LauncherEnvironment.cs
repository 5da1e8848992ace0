using System.Globalization;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Distributed;

/// <summary>This process's rank among the processes a parallel launcher started, read from the variables it sets.</summary>
public readonly record struct ProcessRank(int Rank, int Size, string Source);

/// <summary>
/// Reads the rank and size that mpirun (Open MPI), MPICH's Hydra or Slurm's srun put in each process's environment,
/// so a process knows it was launched as one of several without loading any MPI library.
/// </summary>
public static class LauncherEnvironment
{
    private static readonly (string Rank, string Size)[] RankVariables =
    [
        ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
        ("PMI_RANK", "PMI_SIZE"),
        // srun sets SLURM_STEP_NUM_TASKS for the processes of a step; a batch script has SLURM_PROCID = 0 and
        // SLURM_NTASKS of the whole allocation, yet is one process.
        ("SLURM_PROCID", "SLURM_STEP_NUM_TASKS"),
    ];

    /// <summary>The launcher's rank and size, or null when no launcher set them (a plain single-process run).</summary>
    public static ProcessRank? Read(Func<string, string?> variable)
    {
        foreach (var (rankName, sizeName) in RankVariables)
        {
            string? rank = variable(rankName), size = variable(sizeName);
            if (rank is null || size is null) continue;
            return Validated(ParseCount(rank, rankName), ParseCount(size, sizeName), $"{rankName}/{sizeName}");
        }
        return null;
    }

    public static ProcessRank? ReadProcess() => Read(Environment.GetEnvironmentVariable);

    // This process's rank among the launched processes on its own node: Open MPI, MPICH's Hydra, Slurm.
    private static readonly string[] LocalRankVariables = ["OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"];

    /// <summary>The node-local rank a launcher set, or null in a plain process.</summary>
    public static int? ReadLocalRank(Func<string, string?> variable)
    {
        foreach (string name in LocalRankVariables)
            if (variable(name) is { } text)
            {
                int rank = ParseCount(text, name);
                return rank >= 0 ? rank : throw new InvalidInputException($"{name} = {rank}: a node-local rank cannot be negative.");
            }
        return null;
    }

    /// <summary>Checks 0 &lt;= rank &lt; size, naming the variables that broke it.</summary>
    public static ProcessRank Validated(int rank, int size, string source) =>
        size >= 1 && rank >= 0 && rank < size
            ? new ProcessRank(rank, size, source)
            : throw new InvalidInputException($"{source} = {rank}/{size}: the rank must lie in 0..size-1 and the size be at least 1.");

    public static int ParseCount(string text, string name) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value)
            ? value
            : throw new InvalidInputException($"{name} = '{text}' is not an integer.");
}
