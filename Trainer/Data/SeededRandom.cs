namespace VkDiffusion.Trainer.Data;

/// <summary>
/// SplitMix64: a tiny generator whose output is fixed by this code alone (System.Random's seeded sequence is
/// not promised across .NET versions), so document and window orders are reproducible everywhere, which exact
/// resume relies on. Each (seed, stream) pair gives an independent sequence.
/// </summary>
public sealed class SeededRandom(ulong seed, ulong stream)
{
    private ulong state = Mix(seed ^ Mix(stream + 0x9E3779B97F4A7C15UL));

    public ulong NextUInt64()
    {
        state += 0x9E3779B97F4A7C15UL;
        return Mix(state);
    }

    /// <summary>Uniform in [0, bound), without modulo bias (Lemire's multiply-and-reject).</summary>
    public ulong NextBelow(ulong bound)
    {
        ArgumentOutOfRangeException.ThrowIfZero(bound);
        ulong high = Math.BigMul(NextUInt64(), bound, out ulong low);
        if (low < bound)
        {
            ulong threshold = (0 - bound) % bound;
            while (low < threshold) high = Math.BigMul(NextUInt64(), bound, out low);
        }
        return high;
    }

    /// <summary>Fisher–Yates shuffle in place.</summary>
    public void Shuffle(Span<int> values)
    {
        for (int i = values.Length - 1; i > 0; i--)
        {
            int j = (int)NextBelow((ulong)i + 1);
            (values[i], values[j]) = (values[j], values[i]);
        }
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
