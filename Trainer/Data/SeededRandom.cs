namespace VkDiffusion.Trainer.Data;

/// <summary>
/// SplitMix64: a tiny generator whose output is fixed by this code alone (System.Random's seeded sequence is
/// not promised across .NET versions, and HashCode.Combine differs in every process), so document and window
/// orders and the evaluators' Monte Carlo masks are reproducible everywhere, which exact resume and comparable
/// validation losses rely on. Each (seed, stream) pair gives an independent sequence.
/// </summary>
public sealed class SeededRandom(ulong seed, ulong stream)
{
    private ulong state = Mix(seed ^ Mix(stream + 0x9E3779B97F4A7C15UL));

    public ulong NextUInt64()
    {
        state += 0x9E3779B97F4A7C15UL;
        return Mix(state);
    }

    /// <summary>Uniform in [0, 1), 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

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
