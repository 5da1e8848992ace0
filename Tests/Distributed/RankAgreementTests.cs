using VkDiffusion.Runtime.Distributed;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Tests.Distributed;

public sealed class RankAgreementTests
{
    [Fact]
    public void A_check_failing_on_one_rank_stops_every_rank_with_that_ranks_message_and_code()
    {
        var outcomes = ThreadRanks.Run(3, group => RankAgreement.Run(group, () =>
            group.Rank == 1 ? throw new InvalidInputException("data/meta.json is missing") : group.Rank * 10));

        Assert.All(outcomes, outcome =>
        {
            var failure = Assert.IsType<CollectiveFailure>(outcome.Error);
            Assert.Equal("rank 1: data/meta.json is missing", failure.Message);
            Assert.Equal(ExitCodes.InvalidInput, failure.ExitCode);
        });
    }

    [Fact]
    public void A_check_failing_alike_on_every_rank_names_no_rank_and_one_passing_everywhere_returns_each_ranks_value()
    {
        var failed = ThreadRanks.Run(2, group => RankAgreement.Run<int>(group, () => throw new InvalidInputException("3 micro-batches over 2 ranks")));
        Assert.All(failed, outcome => Assert.Equal("3 micro-batches over 2 ranks", Assert.IsType<CollectiveFailure>(outcome.Error).Message));

        var passed = ThreadRanks.Run(2, group => RankAgreement.Run(group, () => group.Rank + 5));
        Assert.Equal([(5, null), (6, null)], passed.Select(outcome => (outcome.Result, outcome.Error)));
    }

    [Fact]
    public void A_rank_whose_digest_differs_from_rank_0s_is_named_on_every_rank()
    {
        byte[] Digest(int rank) => rank == 2 ? [1, 2, 4] : [1, 2, 3];
        var outcomes = ThreadRanks.Run(3, group =>
        {
            RankAgreement.RequireSame(group, Digest(group.Rank), rank => $"rank {rank}'s parameters differ", ExitCodes.Failure);
            return true;
        });
        Assert.All(outcomes, outcome => Assert.Equal("rank 2's parameters differ", Assert.IsType<CollectiveFailure>(outcome.Error).Message));

        var same = ThreadRanks.Run(3, group =>
        {
            RankAgreement.RequireSame(group, [7, 7], rank => "unexpected", ExitCodes.Failure);
            return true;
        });
        Assert.All(same, outcome => Assert.True(outcome.Result));
    }

    [Fact]
    public void Any_is_true_on_every_rank_when_one_rank_says_so()
    {
        Assert.All(ThreadRanks.Run(3, group => RankAgreement.Any(group, group.Rank == 2)), outcome => Assert.True(outcome.Result));
        Assert.All(ThreadRanks.Run(3, group => RankAgreement.Any(group, false)), outcome => Assert.False(outcome.Result));
    }
}
