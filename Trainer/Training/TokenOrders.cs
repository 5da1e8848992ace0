namespace VkDiffusion.Trainer.Training;

/// <summary>
/// The AR token-order ablation (PAPER §7): N fixed orderings of a window's L+1 positions. Order 0 is
/// left to right; order i is argsort(arange(L+1) + Normal(0, i²)) with the first position kept first.
/// The model reads tokens in that order, predicts each next one, and RoPE sees the original positions.
/// </summary>
public sealed class TokenOrders
{
    private readonly int[][] orders;

    public TokenOrders(int count, int windowLength, int seed)
    {
        orders = new int[count][];
        var random = new Random(seed);
        for (int order = 0; order < count; order++)
        {
            var keys = new double[windowLength];
            for (int position = 0; position < windowLength; position++)
                keys[position] = position + (order == 0 || position == 0 ? 0 : order * StandardNormal(random));
            // The first token stays first: give it a key below every other.
            keys[0] = double.NegativeInfinity;
            int[] permutation = Enumerable.Range(0, windowLength).ToArray();
            Array.Sort(keys, permutation);
            orders[order] = permutation;
        }
    }

    public int Count => orders.Length;

    public IReadOnlyList<int> this[int order] => orders[order];

    /// <summary>Which ordering window <paramref name="windowIndex"/> is trained with (fixed per window, spread evenly).</summary>
    public int OrderOf(long windowIndex) => (int)(windowIndex % orders.Length);

    /// <summary>Writes the inputs, targets and RoPE positions of one window read in <paramref name="order"/>.</summary>
    public void Arrange(ReadOnlySpan<uint> window, int order, Span<uint> inputs, Span<uint> targets, Span<uint> positions)
    {
        int[] permutation = orders[order];
        int length = window.Length - 1;
        for (int i = 0; i < length; i++)
        {
            inputs[i] = window[permutation[i]];
            targets[i] = window[permutation[i + 1]];
            positions[i] = (uint)permutation[i];
        }
    }

    private static double StandardNormal(Random random)
    {
        double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
