using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Randomness;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

public sealed class PhiloxTests(GpuFixture fixture) : GpuTest(fixture)
{
    // Random123's published known-answer vectors for Philox4x32-10 (kat_vectors): counter, key -> output.
    public static TheoryData<uint[], uint[], uint[]> KnownAnswers => new()
    {
        { [0u, 0u, 0u, 0u], [0u, 0u], [0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u] },
        { [0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu], [0xffffffffu, 0xffffffffu], [0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu] },
        { [0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u], [0xa4093822u, 0x299f31d0u], [0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u] },
    };

    [Theory, MemberData(nameof(KnownAnswers))]
    public void Cpu_philox_matches_the_known_answer_vectors(uint[] counter, uint[] key, uint[] expected)
    {
        var block = Philox4x32.Block(counter[0], counter[1], counter[2], counter[3], key[0], key[1]);
        Assert.Equal(expected, new[] { block.X, block.Y, block.Z, block.W });
    }

    [Theory, MemberData(nameof(KnownAnswers))]
    public void Gpu_philox_matches_the_known_answer_vectors(uint[] counter, uint[] key, uint[] expected)
    {
        using var words = GuardedBuffer.Poisoned(Context, 4);
        Context.Execute(c => RandomKernels.PhiloxBlocks(c, words.Data, 1, counter[0], counter[1], counter[2], counter[3], key[0], key[1]));
        Assert.Equal(expected, words.ReadWords());
    }

    // Many blocks (with a counter that wraps past 2^32) must equal the CPU twin word for word.
    [Fact]
    public void Gpu_and_cpu_blocks_agree_on_consecutive_counters()
    {
        const int blocks = 1000;
        using var words = GuardedBuffer.Poisoned(Context, 4 * blocks);
        Context.Execute(c => RandomKernels.PhiloxBlocks(c, words.Data, blocks, 0xFFFFFF00u, 7, 11, 13, 0xDEADBEEFu, 42));
        uint[] gpu = words.ReadWords();
        for (int i = 0; i < blocks; i++)
        {
            var block = Philox4x32.Block(unchecked(0xFFFFFF00u + (uint)i), 7, 11, 13, 0xDEADBEEFu, 42);
            Assert.Equal(new[] { block.X, block.Y, block.Z, block.W }, gpu[(4 * i)..(4 * i + 4)]);
        }
    }

    [Fact]
    public void Unit_floats_cover_zero_to_just_below_one_exactly()
    {
        Assert.Equal(0f, Philox4x32.ToUnitFloat(0));
        Assert.Equal(0f, Philox4x32.ToUnitFloat(0xFF));
        Assert.Equal(1f - MathF.Pow(2, -24), Philox4x32.ToUnitFloat(uint.MaxValue));
        Assert.Equal(0.5f, Philox4x32.ToUnitFloat(0x80000000u));
    }

    // Element index takes word index % 4 of block index / 4 (the documented counter layout).
    [Fact]
    public void Uniform_reads_the_documented_word_of_the_documented_block()
    {
        const ulong seed = 0x0123456789ABCDEFul;
        var block = Philox4x32.Block(2, 5, 9, 3, 0x89ABCDEFu, 0x01234567u);
        Assert.Equal(Philox4x32.ToUnitFloat(block.Z), Philox4x32.Uniform(seed, index: 10, row: 5, randomStep: 9, stream: 3));
    }
}
