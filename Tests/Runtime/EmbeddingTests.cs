using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;
using static VkDiffusion.Tests.Infrastructure.FiniteDifference;

namespace VkDiffusion.Tests.Runtime;

public sealed class EmbeddingTests(GpuFixture fixture) : GpuTest(fixture)
{
    // (tokens, vocab rows, channels): odd sizes, and vocabularies far smaller than the token count so ids repeat.
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 1 },
        { 7, 3, 33 },
        { 33, 127, 7 },
        { 127, 5, 257 },
        { 257, 33, 127 },
        { 257, 1, 1 },
    };

    private static uint[] Tokens(int count, int vocabRows, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (uint)random.Next(vocabRows)).ToArray();
    }

    // A lookup copies bits: exact.
    [Theory, MemberData(nameof(Shapes))]
    public void Forward_copies_the_rows_exactly(int tokenCount, int vocabRows, int channelCount)
    {
        uint[] tokens = Tokens(tokenCount, vocabRows, seed: tokenCount);
        float[] table = TestData.Normal(vocabRows * channelCount, seed: 1);
        using GpuBuffer tokenBuffer = Context.Upload<uint>(tokens, "tokens"), tableBuffer = Context.Upload<float>(table, "table");
        using var y = GuardedBuffer.Poisoned(Context, tokenCount * channelCount);
        Context.Execute(c => EmbeddingKernels.Forward(c, tokenBuffer.Whole, tableBuffer.Whole, y.Data, tokenCount, vocabRows, channelCount));
        Assert.Equal(ToFloat(EmbeddingReference.Forward(tokens, ToDouble(table), vocabRows, channelCount)), y.ReadFloats());
    }

    [Fact]
    public void Forward_turns_an_out_of_range_token_into_a_nan_row()
    {
        using GpuBuffer tokenBuffer = Context.Upload<uint>([1u, 9u, 0u], "tokens"), tableBuffer = Context.Upload<float>([1f, 2f, 3f, 4f], "table");
        using var y = GuardedBuffer.Poisoned(Context, 6);
        Context.Execute(c => EmbeddingKernels.Forward(c, tokenBuffer.Whole, tableBuffer.Whole, y.Data, 3, 2, 2));
        float[] result = y.ReadFloats();
        Assert.Equal([3f, 4f], result[..2]);
        Assert.True(float.IsNaN(result[2]) && float.IsNaN(result[3]));
        Assert.Equal([1f, 2f], result[4..]);
    }

    // Each row is an fp32 sum of its n gradients in position order (plus one add of the old value when
    // accumulating): the recursive-summation bound is n * 2^-24 * (sum of |terms|), per element.
    [Theory, MemberData(nameof(Shapes))]
    public void Backward_matches_the_reference_overwriting_and_accumulating(int tokenCount, int vocabRows, int channelCount)
    {
        uint[] tokens = Tokens(tokenCount, vocabRows, seed: tokenCount + 1);
        float[] dy = TestData.Normal(tokenCount * channelCount, seed: 2), initial = TestData.Normal(vocabRows * channelCount, seed: 3);
        double[] expected = EmbeddingReference.Backward(tokens, ToDouble(dy), vocabRows, channelCount);
        double[] absolute = EmbeddingReference.Backward(tokens, dy.Select(v => (double)Math.Abs(v)).ToArray(), vocabRows, channelCount);
        int[] hits = new int[vocabRows];
        foreach (uint token in tokens) hits[token]++;

        using GpuBuffer tokenBuffer = Context.Upload<uint>(tokens, "tokens"), dyBuffer = Context.Upload<float>(dy, "dy");
        using GpuBuffer scratch = Context.Memory.Allocate(EmbeddingKernels.ScratchBytes(tokenCount), "scratch");
        using var overwritten = GuardedBuffer.Poisoned(Context, vocabRows * channelCount);
        using var accumulated = GuardedBuffer.WithFloats(Context, initial);
        Context.Execute(c =>
        {
            EmbeddingKernels.Backward(c, tokenBuffer.Whole, dyBuffer.Whole, overwritten.Data, scratch.Whole, tokenCount, vocabRows, channelCount, accumulate: false);
            EmbeddingKernels.Backward(c, tokenBuffer.Whole, dyBuffer.Whole, accumulated.Data, scratch.Whole, tokenCount, vocabRows, channelCount, accumulate: true);
        });
        float[] fresh = overwritten.ReadFloats(), summed = accumulated.ReadFloats();
        for (int i = 0; i < fresh.Length; i++)
        {
            int n = hits[i / channelCount];
            double bound = n * Math.Pow(2, -24) * absolute[i];
            Assert.True(Math.Abs(fresh[i] - expected[i]) <= bound, $"dTable[{i}] = {fresh[i]}, expected {expected[i]} within {bound}");
            if (n == 0)
            {
                // Rows no token hits: zero when overwriting, the old bits when accumulating.
                Assert.Equal(0f, fresh[i]);
                Assert.Equal(BitConverter.SingleToUInt32Bits(initial[i]), BitConverter.SingleToUInt32Bits(summed[i]));
            }
            else
            {
                double accumulateBound = (n + 1) * Math.Pow(2, -24) * (absolute[i] + Math.Abs(initial[i]));
                Assert.True(Math.Abs(summed[i] - (initial[i] + expected[i])) <= accumulateBound, $"accumulated dTable[{i}]");
            }
        }
    }

    // Many tokens sharing few ids is where float atomics would reorder the sums: the result must not move.
    [Fact]
    public void Backward_is_bit_identical_run_to_run_with_repeated_ids()
    {
        const int tokenCount = 3000, vocabRows = 4, channelCount = 37;
        uint[] tokens = Tokens(tokenCount, vocabRows, seed: 5);
        float[] dy = TestData.Normal(tokenCount * channelCount, seed: 6);
        using GpuBuffer tokenBuffer = Context.Upload<uint>(tokens, "tokens"), dyBuffer = Context.Upload<float>(dy, "dy");
        using GpuBuffer scratch = Context.Memory.Allocate(EmbeddingKernels.ScratchBytes(tokenCount), "scratch");
        using GpuBuffer dTable = Context.Allocate<float>(vocabRows * channelCount, "dTable");
        uint[]? first = null;
        for (int recording = 0; recording < 2; recording++)
        {
            using CommandList commands = Context.CreateCommandList();
            EmbeddingKernels.Backward(commands, tokenBuffer.Whole, dyBuffer.Whole, dTable.Whole, scratch.Whole, tokenCount, vocabRows, channelCount, accumulate: false);
            for (int run = 0; run < 3; run++)
            {
                Context.Run(commands);
                uint[] bits = Context.Download<uint>(dTable);
                first ??= bits;
                Assert.Equal(first, bits);
            }
        }
    }

    // The lookup is linear in the table, so the central difference is exact up to rounding.
    [Fact]
    public void Reference_backward_matches_finite_differences()
    {
        const int vocabRows = 4, channelCount = 3;
        uint[] tokens = [2, 0, 2, 3, 2];
        double[] table = ToDouble(TestData.Normal(vocabRows * channelCount, seed: 7));
        double[] upstream = ToDouble(TestData.Normal(tokens.Length * channelCount, seed: 8));
        double[] numeric = Gradient(w => Dot(EmbeddingReference.Forward(tokens, w, vocabRows, channelCount), upstream), table);
        AssertClose(EmbeddingReference.Backward(tokens, upstream, vocabRows, channelCount), numeric, 1e-7, "dTable");
    }
}
