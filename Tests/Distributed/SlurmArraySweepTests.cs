using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Distributed;

/// <summary>A sweep run as a real Slurm job array (sbatch --array): each array task is a worker, told its shard by Slurm's variables.</summary>
[Trait("Category", "Slurm")]
public sealed class SlurmArraySweepTests : IDisposable
{
    private readonly TemporaryDirectory root = new();

    [SlurmFact]
    public void A_two_task_sbatch_array_trains_each_of_six_runs_once()
    {
        string spec = DistributedSweepTests.WriteSpec(root, withOrders: true), output = root.File("sweep");

        var (exitCode, submitted, error) = VkdiffWorker.RunAsSbatchArray(2, SlurmFactAttribute.Conf!, root.Path, "sweep", "--spec", spec, "--out", output);

        string[] logs = [.. new[] { "task-0.out", "task-1.out" }.Select(name => File.Exists(root.File(name)) ? File.ReadAllText(root.File(name)) : $"(no {name})")];
        Assert.True(exitCode == ExitCodes.Success, $"sbatch exited {exitCode}: {submitted} {error}\n{string.Join("\n", logs)}");
        Assert.Contains("worker 0/2 (from the Slurm job array)", logs[0]);
        Assert.Contains("worker 1/2 (from the Slurm job array)", logs[1]);
        // Task 0 owns runs 0, 2, 4 (printed 1, 3, 5); task 1 the others: together each run once.
        Assert.Equal([1, 3, 5], DistributedSweepTests.Trained(logs[0]));
        Assert.Equal([2, 4, 6], DistributedSweepTests.Trained(logs[1]));
        DistributedSweepTests.AssertEachRunOnceInResults(output, 6);
    }

    public void Dispose() => root.Dispose();
}
