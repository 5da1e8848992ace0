using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

public sealed class CrossEntropyKernelTests(GpuFixture fixture) : GpuTest(fixture)
{
    private const int WorkgroupSize = 256;

    public static TheoryData<int, int> Shapes => new()
    {
        { 258, 1 }, { 258, 7 }, { 258, 33 }, { 258, 127 },
        { 50304, 1 }, { 50304, 7 }, { 50304, 33 }, { 50304, 127 },
    };

    /// <summary>
    /// Absolute error bound on logsumexp (and so on the unweighted nll). Each lane adds about
    /// vocab/256 exp terms in sequence and the tree adds 8 levels: (terms + 8) roundings of 2^-24 relative
    /// to the sum. Each exp term carries its own few-ulp error plus the rounding of its argument
    /// x - max (|x - max| stays below ~32 for these logits, so 32 * 2^-24 absolute). The log of a sum
    /// with relative error e is off by e absolutely; the factor 4 covers exp's ulps and lse's own rounding.
    /// </summary>
    private static double LogSumExpTolerance(int vocabSize) => 4 * (Math.Ceiling(vocabSize / (double)WorkgroupSize) + 8 + 32) * Math.Pow(2, -24);

    private static (float[] Logits, uint[] Targets, float[] Weights) Problem(int rowCount, int vocabSize, int seed)
    {
        // std 3 spreads the softmax over a few orders of magnitude, as trained logits do.
        float[] logits = TestData.Normal(rowCount * vocabSize, seed, std: 3f);
        var random = new Random(seed + 1);
        var targets = new uint[rowCount];
        var weights = new float[rowCount];
        for (int row = 0; row < rowCount; row++)
        {
            targets[row] = (uint)random.Next(vocabSize);
            // MDM weights: 0 for unmasked positions, 1/p up to 1000 for masked ones.
            weights[row] = (row % 4) switch { 0 => 1f, 1 => 0f, 2 => 1000f, _ => 1f + 50 * random.NextSingle() };
        }
        if (rowCount == 1) weights[0] = 2.5f;
        return (logits, targets, weights);
    }

    [Theory, MemberData(nameof(Shapes))]
    public void Loss_and_gradient_match_the_double_reference(int vocabSize, int rowCount)
    {
        var (logits, targets, weights) = Problem(rowCount, vocabSize, seed: vocabSize + rowCount);
        float lossScale = 1f / (rowCount * 4);
        using var logitsBuffer = new GuardedBuffer(Context, (long)rowCount * vocabSize, "logits");
        using var targetsBuffer = new GuardedBuffer(Context, rowCount, "targets");
        using var weightsBuffer = new GuardedBuffer(Context, rowCount, "weights");
        using var losses = new GuardedBuffer(Context, rowCount, "losses");
        using var evalLosses = new GuardedBuffer(Context, rowCount, "eval-losses");
        Context.Upload<float>(logitsBuffer.Data, logits);
        Context.Upload<uint>(targetsBuffer.Data, targets);
        Context.Upload<float>(weightsBuffer.Data, weights);

        // Forward reads the logits before ForwardBackward overwrites them (the recorder puts a barrier between).
        Context.Execute(c =>
        {
            CrossEntropyKernels.Forward(c, logitsBuffer.Data, targetsBuffer.Data, evalLosses.Data, rowCount, vocabSize);
            CrossEntropyKernels.ForwardBackward(c, logitsBuffer.Data, targetsBuffer.Data, weightsBuffer.Data, losses.Data,
                rowCount, vocabSize, lossScale);
        });

        double[] expectedNll = CrossEntropyReference.Forward(logits, targets, rowCount, vocabSize);
        var (expectedLosses, expectedGradient) = CrossEntropyReference.ForwardBackward(logits, targets, weights, rowCount, vocabSize, lossScale);
        float[] actualNll = Context.Download<float>(evalLosses.Data);
        float[] actualLosses = Context.Download<float>(losses.Data);
        float[] actualGradient = Context.Download<float>(logitsBuffer.Data);
        double lseTolerance = LogSumExpTolerance(vocabSize);
        for (int row = 0; row < rowCount; row++)
        {
            // nll = lse - x_target: lse's bound plus one rounding of the difference.
            double nllTolerance = lseTolerance + Math.Pow(2, -23) * Math.Abs(expectedNll[row]);
            Assert.True(Math.Abs(actualNll[row] - expectedNll[row]) <= nllTolerance, $"row {row}: nll {actualNll[row]} vs {expectedNll[row]}");
            double factor = (double)weights[row] * lossScale;
            Assert.True(Math.Abs(actualLosses[row] - expectedLosses[row]) <= Math.Abs(factor) * nllTolerance + Math.Pow(2, -22) * Math.Abs(expectedLosses[row]),
                $"row {row}: loss {actualLosses[row]} vs {expectedLosses[row]}");
            for (int i = 0; i < vocabSize; i++)
            {
                int index = row * vocabSize + i;
                // g = factor * (p - onehot): p = exp(x - lse) inherits lse's absolute error as a relative
                // one (plus exp's and the products' ulps, 2^-21); p - 1 rounds once (2^-23 absolute).
                double probability = expectedGradient[index] / (factor == 0 ? 1 : factor) + (i == targets[row] ? 1 : 0);
                double tolerance = Math.Abs(factor) * (Math.Pow(2, -22) + (lseTolerance + Math.Pow(2, -21)) * Math.Abs(probability));
                if (!(Math.Abs(actualGradient[index] - expectedGradient[index]) <= tolerance))
                    Assert.Fail($"row {row}, logit {i}: gradient {actualGradient[index]} vs {expectedGradient[index]} (tolerance {tolerance})");
            }
        }
        foreach (GuardedBuffer buffer in new[] { logitsBuffer, targetsBuffer, weightsBuffer, losses, evalLosses }) buffer.AssertGuardsIntact();
    }

    [Theory]
    [InlineData(1u)]     // one lane walks the whole row, 256 rows per group (no tree)
    [InlineData(8u)]     // lavapipe's choice for 258 logits
    [InlineData(64u)]    // a GPU's choice for 258 logits: 4 rows per group
    [InlineData(256u)]   // one row per group, as for 50304 logits
    public void Every_lane_count_matches_the_reference_including_partial_groups(uint lanesPerRow)
    {
        // 37 rows: no lane count divides the rows evenly, so the last group always has rows past the end.
        const int rowCount = 37, vocabSize = 258;
        var (logits, targets, weights) = Problem(rowCount, vocabSize, seed: 31);
        using GpuBuffer logitsBuffer = Context.Upload<float>(logits, "logits");
        using GpuBuffer targetBuffer = Context.Upload<uint>(targets, "targets"), weightBuffer = Context.Upload<float>(weights, "weights");
        using var losses = new GuardedBuffer(Context, rowCount, "losses");
        using var nll = new GuardedBuffer(Context, rowCount, "nll");
        var plan = new CrossEntropyKernels.Plan(64, lanesPerRow);
        Context.Execute(c =>
        {
            CrossEntropyKernels.Forward(c, logitsBuffer.Whole, targetBuffer.Whole, nll.Data, rowCount, vocabSize, plan);
            CrossEntropyKernels.ForwardBackward(c, logitsBuffer.Whole, targetBuffer.Whole, weightBuffer.Whole, losses.Data, rowCount, vocabSize, 0.5f, plan);
        });
        var (expectedLosses, expectedGradient) = CrossEntropyReference.ForwardBackward(logits, targets, weights, rowCount, vocabSize, 0.5f);
        // Normwise: the per-element bounds of the test above, taken at their largest (factor 500, p <= 1).
        double bound = LogSumExpTolerance(vocabSize) + Math.Pow(2, -21);
        TestData.AssertClose(Context.Download<float>(nll.Data), CrossEntropyReference.Forward(logits, targets, rowCount, vocabSize)
            .Select(v => (float)v).ToArray(), bound, bound, "nll");
        TestData.AssertClose(Context.Download<float>(losses.Data), expectedLosses.Select(v => (float)v).ToArray(), 500 * bound, bound, "loss");
        TestData.AssertClose(Context.Download<float>(logitsBuffer), expectedGradient.Select(v => (float)v).ToArray(), 500 * bound, 0, "gradient");
        losses.AssertGuardsIntact();
        nll.AssertGuardsIntact();
    }

    [Fact]
    public void Lanes_per_row_follow_the_vocabulary_and_the_device_kind()
    {
        Assert.Equal(256u, CrossEntropyKernels.PlanFor(DeviceKinds.Gpu(Context.Info), 50304).LanesPerRow);
        Assert.Equal(64u, CrossEntropyKernels.PlanFor(DeviceKinds.Gpu(Context.Info), 258).LanesPerRow);
        Assert.Equal(256u, CrossEntropyKernels.PlanFor(Context.Info, 50304).LanesPerRow);
        Assert.Equal(8u, CrossEntropyKernels.PlanFor(Context.Info, 258).LanesPerRow);
        // A 65535-group device with 4 rows per group could dispatch 262140 rows; the binding allows 130048.
        var lavapipeLike = DeviceKinds.Gpu(Context.Info) with { MaxStorageBufferRange = 128UL << 20, MaxComputeWorkGroupCountX = 65535 };
        Assert.Equal(130048, CrossEntropyKernels.PlanFor(lavapipeLike, 258).RowsPerChunk);
        // One row per group: the group limit (65535, down to 65472) binds before the 4 GiB range.
        var nvidiaLike = DeviceKinds.Gpu(Context.Info) with { MaxStorageBufferRange = uint.MaxValue, MaxComputeWorkGroupCountX = 65535 };
        Assert.Equal(65472, CrossEntropyKernels.PlanFor(nvidiaLike, 1024 * 8).RowsPerChunk);
    }

    [Fact]
    public void Gradient_matches_finite_differences_of_the_kernels_own_loss()
    {
        // 3 rows of 5 logits; row 2 has weight 0. Every logit of every row is nudged by +-h, each nudged
        // copy a row of one batch, and the kernel's loss of the copies gives the central difference.
        const int rowCount = 3, vocabSize = 5;
        const float h = 1e-2f, lossScale = 0.25f;
        float[] logits = TestData.Normal(rowCount * vocabSize, seed: 11);
        uint[] targets = [3, 0, 4];
        float[] weights = [1f, 0.5f, 0f];
        var (_, gradient) = RunFused(logits, targets, weights, rowCount, vocabSize, lossScale);

        int copies = 2 * rowCount * vocabSize;
        var nudged = new float[copies * vocabSize];
        var nudgedTargets = new uint[copies];
        var nudgedWeights = new float[copies];
        for (int row = 0; row < rowCount; row++)
            for (int i = 0; i < vocabSize; i++)
                for (int sign = 0; sign < 2; sign++)
                {
                    int copy = 2 * (row * vocabSize + i) + sign;
                    logits.AsSpan(row * vocabSize, vocabSize).CopyTo(nudged.AsSpan(copy * vocabSize));
                    nudged[copy * vocabSize + i] += sign == 0 ? h : -h;
                    nudgedTargets[copy] = targets[row];
                    nudgedWeights[copy] = weights[row];
                }
        var (losses, _) = RunFused(nudged, nudgedTargets, nudgedWeights, copies, vocabSize, lossScale);
        for (int index = 0; index < rowCount * vocabSize; index++)
        {
            double difference = ((double)losses[2 * index] - losses[2 * index + 1]) / (2 * h);
            // Central differences err by h^2/6 * |d3 loss| (<= 0.1 * scale for softmax) plus the fp32 loss
            // rounding (~1e-7 relative on losses near 1) divided by 2h: 1e-5 + 2.5e-5 at most; 1e-4 leaves margin.
            Assert.True(Math.Abs(difference - gradient[index]) <= 1e-4, $"logit {index}: finite difference {difference} vs kernel gradient {gradient[index]}");
        }
        Assert.All(gradient.AsSpan(2 * vocabSize, vocabSize).ToArray(), g => Assert.Equal(0f, g));
    }

    [Fact]
    public void Rows_of_weight_zero_get_exact_zeros_even_over_garbage_logits()
    {
        const int rowCount = 7, vocabSize = 258;
        var (logits, targets, weights) = Problem(rowCount, vocabSize, seed: 5);
        for (int row = 0; row < rowCount; row++)
        {
            weights[row] = row % 2 == 0 ? 0f : 1f;
            if (row % 2 == 0) Array.Fill(logits, float.NaN, row * vocabSize, vocabSize);
        }
        var (losses, gradient) = RunFused(logits, targets, weights, rowCount, vocabSize, 1f / rowCount);
        for (int row = 0; row < rowCount; row += 2)
        {
            Assert.Equal(0, BitConverter.SingleToInt32Bits(losses[row]));
            Assert.All(gradient.AsSpan(row * vocabSize, vocabSize).ToArray(), g => Assert.Equal(0, BitConverter.SingleToInt32Bits(g)));
        }
        for (int row = 1; row < rowCount; row += 2) Assert.True(float.IsFinite(losses[row]) && losses[row] > 0);
    }

    [Fact]
    public void Forced_small_chunks_give_the_bits_of_one_dispatch()
    {
        // 130 rows of the GPT-2 vocabulary in chunks of 64 rows: three dispatches (64, 64, 2 rows) at
        // offsets of 64 * 50304 * 4 bytes. Chunking only changes which rows a dispatch sees, so the bits
        // must equal a single dispatch's, and both must match the reference.
        const int rowCount = 130, vocabSize = 50304;
        var (logits, targets, weights) = Problem(rowCount, vocabSize, seed: 9);
        float lossScale = 1f / rowCount;
        using GpuBuffer chunkedLogits = Context.Upload<float>(logits, "chunked-logits"), wholeLogits = Context.Upload<float>(logits, "whole-logits");
        using GpuBuffer targetBuffer = Context.Upload<uint>(targets, "targets"), weightBuffer = Context.Upload<float>(weights, "weights");
        using GpuBuffer chunkedLosses = Context.Allocate<float>(rowCount, "chunked-losses"), wholeLosses = Context.Allocate<float>(rowCount, "whole-losses");
        using GpuBuffer chunkedNll = Context.Allocate<float>(rowCount, "chunked-nll"), wholeNll = Context.Allocate<float>(rowCount, "whole-nll");
        uint lanes = CrossEntropyKernels.PlanFor(Context.Info, vocabSize).LanesPerRow;
        var chunked = new CrossEntropyKernels.Plan(64, lanes);
        var whole = new CrossEntropyKernels.Plan(192, lanes);
        using CommandList commands = Context.CreateCommandList();
        CrossEntropyKernels.Forward(commands, chunkedLogits.Whole, targetBuffer.Whole, chunkedNll.Whole, rowCount, vocabSize, chunked);
        CrossEntropyKernels.ForwardBackward(commands, chunkedLogits.Whole, targetBuffer.Whole, weightBuffer.Whole, chunkedLosses.Whole,
            rowCount, vocabSize, lossScale, chunked);
        Assert.Equal(6, commands.DispatchCount);
        CrossEntropyKernels.Forward(commands, wholeLogits.Whole, targetBuffer.Whole, wholeNll.Whole, rowCount, vocabSize, whole);
        CrossEntropyKernels.ForwardBackward(commands, wholeLogits.Whole, targetBuffer.Whole, weightBuffer.Whole, wholeLosses.Whole,
            rowCount, vocabSize, lossScale, whole);
        Assert.Equal(8, commands.DispatchCount);
        Context.Run(commands);

        Assert.Equal(Context.Download<int>(wholeLogits), Context.Download<int>(chunkedLogits));
        Assert.Equal(Context.Download<int>(wholeLosses), Context.Download<int>(chunkedLosses));
        Assert.Equal(Context.Download<int>(wholeNll), Context.Download<int>(chunkedNll));
        double[] expected = CrossEntropyReference.Forward(logits, targets, rowCount, vocabSize);
        float[] actual = Context.Download<float>(chunkedNll);
        for (int row = 0; row < rowCount; row++)
            Assert.True(Math.Abs(actual[row] - expected[row]) <= LogSumExpTolerance(vocabSize) + Math.Pow(2, -23) * expected[row], $"row {row}");
    }

    [Theory]
    [InlineData(128UL << 20, 50304, 640)]       // lavapipe: 134217728 / 201216 = 667.03 rows, down to 640
    [InlineData(uint.MaxValue, 50304, 21312)]   // NVIDIA (4 GiB - 1): 21345.06 rows, down to 21312
    [InlineData(128UL << 20, 258, 130048)]      // byte vocabulary: 130055.9 rows, down to 130048
    [InlineData(1UL << 27, 1, 33554432)]
    public void Max_rows_per_chunk_fills_but_never_exceeds_one_binding(ulong maxStorageBufferRange, int vocabSize, int expectedRows)
    {
        DeviceInfo info = Context.Info with { MaxStorageBufferRange = maxStorageBufferRange };
        int rows = CrossEntropyKernels.MaxRowsPerChunk(info, vocabSize);
        Assert.Equal(expectedRows, rows);
        Assert.Equal(0, rows % 64);
        Assert.True((ulong)rows * 4 * (ulong)vocabSize <= maxStorageBufferRange);
        Assert.True((ulong)(rows + 64) * 4 * (ulong)vocabSize > maxStorageBufferRange);
    }

    [Fact]
    public void A_16k_token_batch_of_gpt2_logits_is_covered_by_aligned_chunks_within_the_binding_limit()
    {
        // The plan for 16384 x 50304 logits (3.2 GB, too big to allocate on lavapipe's 2 GiB heap) on a
        // 128 MiB-binding device: every row once, in order, every chunk within the limit and 256-aligned.
        const int rowCount = 16384, vocabSize = 50304;
        const ulong range = 128UL << 20;
        int rowsPerChunk = CrossEntropyKernels.MaxRowsPerChunk(Context.Info with { MaxStorageBufferRange = range }, vocabSize);
        var chunks = CrossEntropyKernels.Chunks(rowCount, rowsPerChunk).ToList();
        Assert.Equal((rowCount + rowsPerChunk - 1) / rowsPerChunk, chunks.Count);
        int nextRow = 0;
        foreach (var (firstRow, rows) in chunks)
        {
            Assert.Equal(nextRow, firstRow);
            Assert.True((ulong)rows * 4 * vocabSize <= range);
            Assert.Equal(0L, 4L * firstRow * vocabSize % 256);
            Assert.Equal(0L, 4L * firstRow % 256);
            nextRow += rows;
        }
        Assert.Equal(rowCount, nextRow);
    }

    [Fact]
    public void A_vocabulary_wider_than_a_binding_is_refused_with_a_clear_error()
    {
        DeviceInfo info = Context.Info with { MaxStorageBufferRange = 1 << 20 };
        var error = Assert.Throws<BindingRangeException>(() => CrossEntropyKernels.MaxRowsPerChunk(info, 50304));
        Assert.Contains("maxStorageBufferRange", error.Message);
    }

    [Fact]
    public void Reruns_are_bit_identical()
    {
        const int rowCount = 33, vocabSize = 50304;
        var (logits, targets, weights) = Problem(rowCount, vocabSize, seed: 21);
        using GpuBuffer source = Context.Upload<float>(logits, "source"), work = Context.Allocate<float>(logits.Length, "work");
        using GpuBuffer targetBuffer = Context.Upload<uint>(targets, "targets"), weightBuffer = Context.Upload<float>(weights, "weights");
        using GpuBuffer losses = Context.Allocate<float>(rowCount, "losses");
        using CommandList commands = Context.CreateCommandList();
        BasicKernels.Copy(commands, source.Whole, work.Whole);
        CrossEntropyKernels.ForwardBackward(commands, work.Whole, targetBuffer.Whole, weightBuffer.Whole, losses.Whole, rowCount, vocabSize, 0.01f);
        Context.Run(commands);
        // Compared as raw bits: float equality would let -0 pass for +0.
        int[] firstGradient = Context.Download<int>(work), firstLosses = Context.Download<int>(losses);
        Context.Run(commands);
        Assert.Equal(firstGradient, Context.Download<int>(work));
        Assert.Equal(firstLosses, Context.Download<int>(losses));
    }

    private (float[] Losses, float[] Gradient) RunFused(float[] logits, uint[] targets, float[] weights, int rowCount, int vocabSize, float lossScale)
    {
        using GpuBuffer logitsBuffer = Context.Upload<float>(logits, "logits");
        using GpuBuffer targetBuffer = Context.Upload<uint>(targets, "targets"), weightBuffer = Context.Upload<float>(weights, "weights");
        using GpuBuffer losses = Context.Allocate<float>(rowCount, "losses");
        Context.Execute(c => CrossEntropyKernels.ForwardBackward(c, logitsBuffer.Whole, targetBuffer.Whole, weightBuffer.Whole, losses.Whole,
            rowCount, vocabSize, lossScale));
        return (Context.Download<float>(losses), Context.Download<float>(logitsBuffer));
    }
}
