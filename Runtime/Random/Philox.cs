namespace VkDiffusion.Runtime.Randomness;

/// <summary>
/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011; the Random123
/// reference), the counter-based generator every random kernel uses. Shaders/philox.glsl is its GPU twin:
/// both must produce the same bits, and the tests hold both to the published known-answer vectors.
/// <para>
/// Counter layout used by VkDiffusion (documented identically in Shaders/philox.glsl):
/// key = (seed low 32 bits, seed high 32 bits);
/// counter = (index / 4, row, random step, stream), and element <c>index</c> takes output word
/// <c>index % 4</c>, so one block serves four consecutive elements. "row" is the sequence (MDM masks)
/// or zero; "random step" is <see cref="Kernels.StepScalars.RandomStep"/>; the stream separates
/// independent uses of the same (seed, step): see <see cref="Streams"/>.
/// </para>
/// </summary>
public static class Philox4x32
{
    private const uint MultiplierA = 0xD2511F53;
    private const uint MultiplierB = 0xCD9E8D57;
    private const uint KeyBumpA = 0x9E3779B9; // golden ratio
    private const uint KeyBumpB = 0xBB67AE85; // sqrt(3) - 1
    public const int Rounds = 10;

    /// <summary>The four 32-bit outputs for one counter and key.</summary>
    public static (uint X, uint Y, uint Z, uint W) Block(uint counter0, uint counter1, uint counter2, uint counter3, uint key0, uint key1)
    {
        uint x = counter0, y = counter1, z = counter2, w = counter3;
        for (int round = 0; round < Rounds; round++)
        {
            if (round > 0)
            {
                key0 += KeyBumpA;
                key1 += KeyBumpB;
            }
            ulong productA = (ulong)MultiplierA * x;
            ulong productB = (ulong)MultiplierB * z;
            uint highA = (uint)(productA >> 32), lowA = (uint)productA;
            uint highB = (uint)(productB >> 32), lowB = (uint)productB;
            (x, y, z, w) = (highB ^ y ^ key0, lowB, highA ^ w ^ key1, lowA);
        }
        return (x, y, z, w);
    }

    /// <summary>Word <paramref name="word"/> (0..3) of a block.</summary>
    public static uint Word((uint X, uint Y, uint Z, uint W) block, int word) => word switch
    {
        0 => block.X,
        1 => block.Y,
        2 => block.Z,
        3 => block.W,
        _ => throw new ArgumentOutOfRangeException(nameof(word)),
    };

    /// <summary>
    /// The uniform in [0, 1) for element <paramref name="index"/> of (<paramref name="row"/>,
    /// <paramref name="randomStep"/>, <paramref name="stream"/>) under <paramref name="seed"/>, drawn as
    /// described in the class summary. Same bits as philox_uniform() in Shaders/philox.glsl.
    /// </summary>
    public static float Uniform(ulong seed, uint index, uint row, uint randomStep, uint stream)
    {
        var block = Block(index >> 2, row, randomStep, stream, (uint)seed, (uint)(seed >> 32));
        return ToUnitFloat(Word(block, (int)(index & 3)));
    }

    /// <summary>
    /// (x >> 8) * 2^-24: the top 24 bits as a float in [0, 1). Exact in fp32 (every value is a multiple of
    /// 2^-24 below 1), so the GPU and the CPU agree bit for bit.
    /// </summary>
    public static float ToUnitFloat(uint x) => (x >> 8) * (1.0f / 16777216.0f);

    /// <summary>Stream ids: distinct streams never share a counter, so their numbers are independent.</summary>
    public static class Streams
    {
        /// <summary>MDM corruption: the per-token uniforms u compared with p.</summary>
        public const uint CorruptionMask = 0;
        /// <summary>MDM corruption: the per-sequence diffusion time t.</summary>
        public const uint CorruptionTime = 1;
        /// <summary>Streams at or above this are free for dropout sites (one id per site).</summary>
        public const uint FirstDropout = 16;
    }
}
