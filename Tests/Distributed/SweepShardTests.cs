using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Experiments;

namespace VkDiffusion.Tests.Distributed;

public sealed class SweepShardTests
{
    private static Func<string, string?> Variables(params (string Name, string Value)[] variables) =>
        name => variables.Where(v => v.Name == name).Select(v => v.Value).FirstOrDefault();

    [Fact]
    public void Every_run_belongs_to_exactly_one_of_n_shards()
    {
        var shards = Enumerable.Range(0, 3).Select(i => SweepShard.Parse($"{i}/3")).ToList();
        for (int run = 0; run < 10; run++) Assert.Single(shards, shard => shard.Owns(run));
        Assert.True(shards[1].Owns(4)); // 4 mod 3 = 1
    }

    [Theory]
    [InlineData("2/2")]
    [InlineData("-1/2")]
    [InlineData("1/0")]
    [InlineData("1")]
    [InlineData("a/b")]
    public void A_malformed_shard_flag_is_a_usage_error(string text)
    {
        var error = Assert.Throws<VkDiffusionException>(() => SweepShard.Parse(text));
        Assert.Equal(ExitCodes.Usage, error.ExitCode);
        Assert.Contains("--shard", error.Message);
    }

    [Fact]
    public void The_shard_comes_from_a_slurm_array_before_any_rank_variables()
    {
        var shard = SweepShard.FromEnvironment(Variables(("SLURM_ARRAY_TASK_ID", "12"), ("SLURM_ARRAY_TASK_MIN", "10"), ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_PROCID", "0"), ("SLURM_NTASKS", "1")));
        Assert.Equal((2, 4), (shard.Index, shard.Count));
    }

    [Theory]
    [InlineData("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE")]
    [InlineData("PMI_RANK", "PMI_SIZE")]
    [InlineData("SLURM_PROCID", "SLURM_STEP_NUM_TASKS")]
    public void The_shard_comes_from_the_launchers_rank_and_size(string rank, string size)
    {
        var shard = SweepShard.FromEnvironment(Variables((rank, "1"), (size, "3")));
        Assert.Equal((1, 3), (shard.Index, shard.Count));
    }

    [Fact]
    public void Without_a_launcher_one_worker_owns_the_whole_sweep()
    {
        Assert.Equal(SweepShard.Whole, SweepShard.FromEnvironment(_ => null));
    }

    [Fact]
    public void An_array_task_outside_the_array_is_invalid_input_naming_the_variables()
    {
        var error = Assert.Throws<InvalidInputException>(() => SweepShard.FromEnvironment(
            Variables(("SLURM_ARRAY_TASK_ID", "5"), ("SLURM_ARRAY_TASK_COUNT", "4"))));
        Assert.Contains("SLURM_ARRAY_TASK_ID", error.Message);
    }
}
