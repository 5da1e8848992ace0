using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Tests.Training;

public sealed class TokenOrdersTests
{
    [Fact]
    public void Order_zero_is_left_to_right_and_every_order_is_a_permutation_starting_at_zero()
    {
        var orders = new TokenOrders(count: 8, windowLength: 33, seed: 5);
        Assert.Equal(Enumerable.Range(0, 33), orders[0]);
        for (int order = 0; order < orders.Count; order++)
        {
            Assert.Equal(0, orders[order][0]);
            Assert.Equal(Enumerable.Range(0, 33), orders[order].OrderBy(p => p));
        }
        // Noise of std i moves positions further for larger i: order 7 must differ from left to right.
        Assert.NotEqual(orders[0], orders[7]);
    }

    [Fact]
    public void Arrange_feeds_tokens_in_order_and_original_positions_to_rope()
    {
        var orders = new TokenOrders(count: 3, windowLength: 6, seed: 1);
        uint[] window = [10, 11, 12, 13, 14, 15];
        var inputs = new uint[5];
        var targets = new uint[5];
        var positions = new uint[5];
        orders.Arrange(window, 2, inputs, targets, positions);
        IReadOnlyList<int> permutation = orders[2];
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(window[permutation[i]], inputs[i]);
            Assert.Equal(window[permutation[i + 1]], targets[i]);
            Assert.Equal((uint)permutation[i], positions[i]);
        }
    }
}
