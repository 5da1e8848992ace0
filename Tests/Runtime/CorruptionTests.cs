using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

public sealed class CorruptionTests(GpuFixture fixture) : GpuTest(fixture)
{
    private const ulong Seed = 0xC0FFEE0000000001ul;
    private const uint MaskId = 50257;

    private sealed class Outputs(GpuContext context, int batchCount, int sequenceLength) : IDisposable
    {
        public GuardedBuffer Corrupted { get; } = GuardedBuffer.Poisoned(context, batchCount * sequenceLength);
        public GuardedBuffer Weights { get; } = GuardedBuffer.Poisoned(context, batchCount * sequenceLength);
        public GuardedBuffer TValues { get; } = GuardedBuffer.Poisoned(context, batchCount);

        public void Record(CommandList c, GpuBuffer tokens, GpuBuffer scalars, int batchCount, int sequenceLength) =>
            CorruptionKernels.Corrupt(c, tokens.Whole, scalars.Whole, Corrupted.Data, Weights.Data, TValues.Data, batchCount, sequenceLength, MaskId);

        public void Dispose()
        {
            Corrupted.Dispose();
            Weights.Dispose();
            TValues.Dispose();
        }
    }

    private GpuBuffer StepScalarsBuffer(uint randomStep)
    {
        GpuBuffer buffer = Context.Allocate<StepScalars>(1, "step-scalars", MemoryKind.HostVisible);
        SetRandomStep(buffer, randomStep);
        return buffer;
    }

    private void SetRandomStep(GpuBuffer buffer, uint randomStep) =>
        Context.Upload<StepScalars>(buffer.Whole, [new StepScalars { RandomStep = randomStep, Seed = Seed }]);

    private static uint[] Tokens(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (uint)random.Next(50257)).ToArray();
    }

    // Masks, corrupted tokens and t are Philox bits and fp32 compares, identical on both sides. The weight
    // 1 / p is a GPU division, which Vulkan bounds to 2.5 ulp (not correctly rounded): 3 ulp is allowed.
    private static void AssertMatchesReference(CorruptionReference.Result expected, Outputs actual)
    {
        Assert.Equal(expected.Corrupted, actual.Corrupted.ReadWords());
        Assert.Equal(expected.TValues, actual.TValues.ReadFloats());
        float[] weights = actual.Weights.ReadFloats();
        for (int i = 0; i < weights.Length; i++)
        {
            if (!expected.Masked[i])
            {
                Assert.Equal(0f, weights[i]);
                continue;
            }
            double ulp = MathF.BitIncrement(expected.Weights[i]) - expected.Weights[i];
            Assert.True(Math.Abs(weights[i] - expected.Weights[i]) <= 3 * ulp, $"weight {i}: {weights[i]} vs {expected.Weights[i]}");
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 33)]
    [InlineData(3, 127)]
    [InlineData(2, 257)]
    [InlineData(33, 7)]
    public void Gpu_corruption_matches_the_reference_bit_for_bit(int batchCount, int sequenceLength)
    {
        uint[] tokens = Tokens(batchCount * sequenceLength, seed: sequenceLength);
        using GpuBuffer tokenBuffer = Context.Upload<uint>(tokens, "tokens"), scalars = StepScalarsBuffer(randomStep: 12);
        using var outputs = new Outputs(Context, batchCount, sequenceLength);
        Context.Execute(c => outputs.Record(c, tokenBuffer, scalars, batchCount, sequenceLength));
        AssertMatchesReference(CorruptionReference.Corrupt(tokens, Seed, 12, batchCount, sequenceLength, MaskId), outputs);
    }

    // The recording reads (seed, step) from the step-scalar buffer: replaying it after the host bumps the
    // step must give that step's corruption, with no re-recording.
    [Fact]
    public void Replaying_after_changing_the_random_step_follows_the_new_step()
    {
        const int batchCount = 4, sequenceLength = 65;
        uint[] tokens = Tokens(batchCount * sequenceLength, seed: 9);
        using GpuBuffer tokenBuffer = Context.Upload<uint>(tokens, "tokens"), scalars = StepScalarsBuffer(randomStep: 100);
        using var outputs = new Outputs(Context, batchCount, sequenceLength);
        using CommandList commands = Context.CreateCommandList();
        outputs.Record(commands, tokenBuffer, scalars, batchCount, sequenceLength);
        Context.Run(commands);
        uint[] first = outputs.Corrupted.ReadWords();
        AssertMatchesReference(CorruptionReference.Corrupt(tokens, Seed, 100, batchCount, sequenceLength, MaskId), outputs);
        SetRandomStep(scalars, 101);
        Context.Run(commands);
        AssertMatchesReference(CorruptionReference.Corrupt(tokens, Seed, 101, batchCount, sequenceLength, MaskId), outputs);
        Assert.NotEqual(first, outputs.Corrupted.ReadWords());
        SetRandomStep(scalars, 100);
        Context.Run(commands);
        Assert.Equal(first, outputs.Corrupted.ReadWords());
    }

    // Given the t values (checked exactly above), the masked count over all tokens is a sum of independent
    // Bernoulli(p_b): mean sum L p_b, variance sum L p_b (1 - p_b). 5 standard deviations: a correct
    // generator fails with probability ~6e-7 (and the seed is fixed, so the test cannot flake).
    [Fact]
    public void The_masked_count_matches_the_per_sequence_probabilities()
    {
        const int batchCount = 64, sequenceLength = 1024;
        uint[] tokens = Tokens(batchCount * sequenceLength, seed: 1);
        using GpuBuffer tokenBuffer = Context.Upload<uint>(tokens, "tokens"), scalars = StepScalarsBuffer(randomStep: 7);
        using var outputs = new Outputs(Context, batchCount, sequenceLength);
        Context.Execute(c => outputs.Record(c, tokenBuffer, scalars, batchCount, sequenceLength));
        float[] t = outputs.TValues.ReadFloats();
        int masked = outputs.Corrupted.ReadWords().Count(token => token == MaskId);
        double mean = 0, variance = 0;
        foreach (float time in t)
        {
            double p = (1 - 1e-3) * time + 1e-3;
            mean += sequenceLength * p;
            variance += sequenceLength * p * (1 - p);
        }
        Assert.InRange(masked, mean - 5 * Math.Sqrt(variance), mean + 5 * Math.Sqrt(variance));
    }

    // t ~ U[0, 1): the Kolmogorov-Smirnov distance of n draws from the uniform CDF exceeds
    // sqrt(ln(2 / alpha) / 2) / sqrt(n) with probability alpha; alpha = 1e-6 gives 2.69 / sqrt(n).
    [Fact]
    public void Diffusion_times_are_uniform()
    {
        const int n = 20_000;
        float[] t = Enumerable.Range(0, n).Select(b => CorruptionReference.Time(Seed, 3, b)).Order().ToArray();
        double distance = 0;
        for (int i = 0; i < n; i++) distance = Math.Max(distance, Math.Max((i + 1.0) / n - t[i], t[i] - (double)i / n));
        Assert.True(distance < 2.69 / Math.Sqrt(n), $"KS distance {distance}");
        Assert.All(t, time => Assert.InRange(time, 0f, MathF.BitDecrement(1f)));
    }

    // A masked position's weight is 1 / p_b, every position of a sequence shares one p_b, and p_b >= eps.
    [Fact]
    public void Reference_weights_follow_the_per_sequence_probability()
    {
        uint[] tokens = Tokens(8 * 50, seed: 2);
        var result = CorruptionReference.Corrupt(tokens, Seed, 0, 8, 50, MaskId, eps: 1e-3f);
        for (int b = 0; b < 8; b++)
        {
            Assert.InRange(result.Probabilities[b], 1e-3f, 1f);
            Assert.Equal((1 - 1e-3) * result.TValues[b] + 1e-3, result.Probabilities[b], 1e-6);
            for (int i = 0; i < 50; i++)
            {
                int at = b * 50 + i;
                Assert.Equal(result.Masked[at] ? MaskId : tokens[at], result.Corrupted[at]);
                Assert.Equal(result.Masked[at] ? (float)(1.0 / result.Probabilities[b]) : 0f, result.Weights[at]);
            }
        }
    }
}
