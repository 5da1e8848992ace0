using VkDiffusion.Runtime.Distributed;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Tests.Distributed;

public sealed class MpiBindingTests
{
    [Fact]
    [Trait("Category", "Mpi")]
    public void Two_mpirun_ranks_all_reduce_and_broadcast_known_vectors()
    {
        Assert.True(File.Exists("/usr/bin/mpirun"), "mpirun is missing: run scripts/setup.sh (it installs openmpi-bin)");
        AssertBothRanksMatch(VkdiffWorker.RunUnderMpirun(2, "mpi-check", "--length", "300000"));
    }

    /// <summary>The same check through MPICH's ABI (int handles, libmpich.so.12), launched by MPICH's own mpiexec.</summary>
    [MpichFact]
    [Trait("Category", "Mpich")]
    public void Two_mpich_ranks_all_reduce_and_broadcast_known_vectors() =>
        AssertBothRanksMatch(VkdiffWorker.RunUnderMpich(2, "mpi-check", "--length", "300000"));

    private static void AssertBothRanksMatch((int ExitCode, string Output, string Error) check)
    {
        var (exitCode, output, error) = check;
        Assert.True(exitCode == ExitCodes.Success, $"exit {exitCode}: {output} {error}");
        for (int rank = 0; rank < 2; rank++)
            Assert.Contains($"rank {rank} of 2: all-reduce of 300000 floats matches, broadcast from rank 1 matches", output);
    }

    [Fact]
    public void A_process_no_launcher_started_is_a_single_rank_and_loads_no_mpi()
    {
        using IProcessGroup group = ProcessGroup.Open(name => name switch { "OMPI_COMM_WORLD_RANK" => "0", "OMPI_COMM_WORLD_SIZE" => "1", _ => null });
        Assert.IsType<SingleProcessGroup>(group);
        Assert.IsType<SingleProcessGroup>(ProcessGroup.Open(_ => null));
        var values = new float[] { 1.5f, -2 };
        group.AllReduceSum(values);
        Assert.Equal([1.5f, -2], values);
        Assert.DoesNotContain("libmpi", File.ReadAllText("/proc/self/maps"));
    }
}
