using CommandLine;
using VkDiffusion.Runtime.Distributed;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Cli.Commands;

/// <summary>
/// Checks the MPI binding under a launcher (`mpirun -np N vkdiff mpi-check`): every rank all-reduces a vector whose
/// sum over ranks it can compute itself, receives a broadcast from the last rank, and says whether both match.
/// </summary>
[Verb("mpi-check", Hidden = true, HelpText = "Check all-reduce, broadcast and barrier across the ranks mpirun or srun started.")]
public sealed class MpiCheckCommand : ICommand
{
    [Option("length", Default = 100_000, HelpText = "Floats per vector.")]
    public int Length { get; set; }

    public int Run()
    {
        using IProcessGroup group = ProcessGroup.Open();
        int rank = group.Rank, size = group.Size;

        // Rank r holds (r + 1) * (i mod 97) + r: small integers, so every float sum is exact whatever the order.
        var values = new float[Length];
        for (int i = 0; i < Length; i++) values[i] = (rank + 1) * (i % 97) + rank;
        group.AllReduceSum(values);
        float SumOverRanks(int i) => (i % 97) * size * (size + 1) / 2f + size * (size - 1) / 2f;
        int wrongSums = Enumerable.Range(0, Length).Count(i => values[i] != SumOverRanks(i));

        int root = size - 1;
        var bytes = new byte[Length];
        if (rank == root)
            for (int i = 0; i < Length; i++) bytes[i] = (byte)(i * 7 + 3);
        group.Broadcast(bytes, root);
        int wrongBytes = Enumerable.Range(0, Length).Count(i => bytes[i] != (byte)(i * 7 + 3));
        group.Barrier();

        bool matches = wrongSums == 0 && wrongBytes == 0;
        Console.WriteLine($"rank {rank} of {size}: all-reduce of {Length} floats {(wrongSums == 0 ? "matches" : $"differs in {wrongSums} elements")}, " +
            $"broadcast from rank {root} {(wrongBytes == 0 ? "matches" : $"differs in {wrongBytes} bytes")}");
        return matches ? ExitCodes.Success : ExitCodes.Failure;
    }
}
