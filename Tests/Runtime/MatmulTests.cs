using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

// Tolerance: an fp32 dot product of R terms, in any summation order, with or without fused multiply-add,
// is within gamma_(R+1) * sum|a||b| of the exact value (Higham, Accuracy and Stability, 3.1), gamma_n =
// n u / (1 - n u) with u = 2^-24. We allow (R + 2) u (sum|a||b| + |prior|): the extra u covers adding the
// prior output in accumulate mode. The expectation is the double-precision reference. The cooperative-matrix
// path rounds each operand to fp16 (relative 2^-11 each) and the lavapipe emulation layer also rounds each
// product to fp16 (its README), so it gets 2^-9 sum|a||b| on top: three roundings of 2^-11, with room.
// Split-K sums slices of the reduction and then the slices: still one fp32 sum of R products, same bound.
public sealed class MatmulTests(GpuFixture fixture) : GpuTest(fixture)
{
    public enum Layout { Forward, BackwardInput, BackwardWeight }

    private const int GuardCount = 64;
    private const float Sentinel = -12345.678f;

    // (rows, in, out): single elements, primes around tile edges, tile-aligned shapes, and shapes large
    // enough (in some layout) to select the 8x8 register blocks and the 128x128 shared tiles.
    private static readonly (int M, int K, int N)[] Shapes =
    [
        (1, 1, 1), (7, 33, 5), (33, 7, 127), (127, 257, 33), (64, 64, 64), (128, 96, 256), (257, 129, 65),
        (260, 36, 256), (257, 20, 257), (40, 264, 260), (20, 516, 520), (513, 8, 515),
        // The weight gradient of this one reads both operands as vec4s along their rows with a reduction of 33:
        // the remainder loop's single-element loads from vec4 views.
        (33, 12, 64),
    ];

    private static readonly MatmulPath[] Float32Paths = [MatmulPath.Reference, MatmulPath.RegisterBlocked, MatmulPath.RegisterBlockedTexels, MatmulPath.Tiled];

    public static TheoryData<MatmulPath, Layout, int, int, int> Cases()
    {
        var data = new TheoryData<MatmulPath, Layout, int, int, int>();
        foreach (MatmulPath path in Float32Paths)
            foreach (Layout layout in Enum.GetValues<Layout>())
                foreach (var (m, k, n) in Shapes)
                    data.Add(path, layout, m, k, n);
        return data;
    }

    [Theory, MemberData(nameof(Cases))]
    public void Matches_the_double_reference(MatmulPath path, Layout layout, int rowCount, int inFeatures, int outFeatures)
    {
        var shape = new Shape(rowCount, inFeatures, outFeatures);
        var (first, second) = Inputs(layout, shape, seed: rowCount * 7 + inFeatures);
        float[] actual = WithPath(path, () => RunGuarded(layout, shape, first, second, prior: null));
        AssertWithinBound(actual, layout, shape, first, second, prior: null);
    }

    // VKDIFF_MATMUL_BLOCKS (which `vkdiff tune` varies): each blocked path's small and large blocks on shapes the shape
    // heuristic gives the other one (a single element, ragged edges, a vec4 remainder, a wide output).
    public static TheoryData<MatmulPath, string, Layout, int, int, int> ForcedBlockCases()
    {
        var data = new TheoryData<MatmulPath, string, Layout, int, int, int>();
        foreach (MatmulPath path in new[] { MatmulPath.RegisterBlocked, MatmulPath.RegisterBlockedTexels, MatmulPath.Tiled })
            foreach (string blocks in new[] { "small", "large" })
                foreach (Layout layout in Enum.GetValues<Layout>())
                    foreach (var (m, k, n) in new[] { (1, 1, 1), (7, 33, 5), (33, 12, 64), (513, 8, 515) })
                        data.Add(path, blocks, layout, m, k, n);
        return data;
    }

    [Theory, MemberData(nameof(ForcedBlockCases))]
    public void Forced_blocks_match_the_double_reference_on_the_named_variant(MatmulPath path, string blocks, Layout layout, int rowCount, int inFeatures, int outFeatures)
    {
        var shape = new Shape(rowCount, inFeatures, outFeatures);
        var (first, second) = Inputs(layout, shape, seed: rowCount * 5 + inFeatures);
        var dispatched = new List<string>();
        float[] actual = WithSwitch(MatmulKernels.BlocksVariable, blocks, () => WithPath(path, () => RunGuarded(layout, shape, first, second, prior: null, dispatched: dispatched)));
        AssertWithinBound(actual, layout, shape, first, second, prior: null);
        string expected = (path, blocks) switch
        {
            (MatmulPath.RegisterBlocked, "small") => "matmul_reg4x4",
            (MatmulPath.RegisterBlocked, _) => "matmul_reg8x8",
            (MatmulPath.RegisterBlockedTexels, "small") => "matmul_texel4x4",
            (MatmulPath.RegisterBlockedTexels, _) => "matmul_texel8x16",
            (_, "small") => "matmul_tiled4x4",
            _ => "matmul_tiled8x8",
        };
        Assert.Contains(expected, dispatched);
    }

    [Fact]
    public void An_unknown_block_choice_is_a_clear_error() =>
        WithSwitch(MatmulKernels.BlocksVariable, "huge", () =>
        {
            var error = Assert.Throws<InvalidInputException>(() => RunGuarded(Layout.Forward, new Shape(4, 4, 4), new float[16], new float[16], prior: null));
            Assert.Equal("VKDIFF_MATMUL_BLOCKS=huge is not a block choice; use auto, small or large.", error.Message);
            return 0;
        });

    // Mixed precision: both operands stored as fp16 or bf16, every path and layout, shapes with ragged edges and vec4
    // groups; the reference multiplies the rounded operands in double, so the fp32 accumulation bound holds unchanged.
    private static readonly (int M, int K, int N)[] SixteenBitShapes = [(7, 33, 5), (127, 257, 33), (257, 129, 65), (20, 516, 520), (33, 12, 64), (513, 8, 515)];

    public static TheoryData<MatmulPath, Precision, Layout, int, int, int> SixteenBitCases()
    {
        var data = new TheoryData<MatmulPath, Precision, Layout, int, int, int>();
        // The texel path has no 16-bit variant: it runs as the register path (MatmulKernels.ChoosePath).
        foreach (MatmulPath path in new[] { MatmulPath.Reference, MatmulPath.RegisterBlocked, MatmulPath.Tiled })
            foreach (Precision operands in new[] { Precision.Fp16, Precision.Bf16 })
                foreach (Layout layout in Enum.GetValues<Layout>())
                    foreach (var (m, k, n) in SixteenBitShapes)
                        data.Add(path, operands, layout, m, k, n);
        return data;
    }

    [Theory, MemberData(nameof(SixteenBitCases))]
    public void Sixteen_bit_operands_match_the_double_reference(MatmulPath path, Precision operands, Layout layout, int rowCount, int inFeatures, int outFeatures)
    {
        var shape = new Shape(rowCount, inFeatures, outFeatures);
        var (first, second) = Inputs(layout, shape, seed: rowCount * 3 + outFeatures);
        (first, second) = (SixteenBitReference.Round(first, operands), SixteenBitReference.Round(second, operands));
        float[] prior = TestData.Uniform(OutputCount(layout, shape), seed: 5);
        float[] actual = WithPath(path, () => RunGuarded(layout, shape, first, second, prior, operands));
        AssertWithinBound(actual, layout, shape, first, second, prior);
    }

    public static TheoryData<Layout, int, int, int> CooperativeMatrixSixteenBitCases() => EveryLayout(SixteenBitShapes);

    // fp16 operands read straight into the cooperative-matrix tiles (no rounding on the way: they are fp16 already).
    [Theory, MemberData(nameof(CooperativeMatrixSixteenBitCases)), Trait("Category", "CooperativeMatrix")]
    public void Cooperative_matrix_products_of_fp16_operands_match_the_double_reference(Layout layout, int rowCount, int inFeatures, int outFeatures)
    {
        var shape = new Shape(rowCount, inFeatures, outFeatures);
        var (first, second) = Inputs(layout, shape, seed: rowCount + 11 * outFeatures);
        (first, second) = (SixteenBitReference.Round(first, Precision.Fp16), SixteenBitReference.Round(second, Precision.Fp16));
        float[] actual = WithPath(MatmulPath.CooperativeMatrix, () => RunGuarded(layout, shape, first, second, prior: null, Precision.Fp16));
        AssertWithinBound(actual, layout, shape, first, second, prior: null, MatmulPath.CooperativeMatrix);
    }

    public static TheoryData<Layout, int, int, int> CooperativeMatrixCases() => EveryLayout(Shapes);

    private static TheoryData<Layout, int, int, int> EveryLayout((int M, int K, int N)[] shapes)
    {
        var data = new TheoryData<Layout, int, int, int>();
        foreach (Layout layout in Enum.GetValues<Layout>())
            foreach (var (m, k, n) in shapes)
                data.Add(layout, m, k, n);
        return data;
    }

    // Every layout and shape on the cooperative-matrix kernel (the tile the device lists: 8x8x8 on lavapipe with
    // the emulation layer), ragged edges included.
    [Theory, MemberData(nameof(CooperativeMatrixCases)), Trait("Category", "CooperativeMatrix")]
    public void Cooperative_matrix_products_match_the_double_reference(Layout layout, int rowCount, int inFeatures, int outFeatures)
    {
        var shape = new Shape(rowCount, inFeatures, outFeatures);
        var (first, second) = Inputs(layout, shape, seed: rowCount * 5 + outFeatures);
        float[] actual = WithPath(MatmulPath.CooperativeMatrix, () => RunGuarded(layout, shape, first, second, prior: null));
        AssertWithinBound(actual, layout, shape, first, second, prior: null, MatmulPath.CooperativeMatrix);
    }

    // VKDIFF_COOPMAT_TILE: a listed tile is taken (the layer lists 8x8x8 at lavapipe's subgroup 8), one the device does
    // not list or the kernels are not built for is refused naming what it could be.
    [Fact, Trait("Category", "CooperativeMatrix")]
    public void A_forced_cooperative_matrix_tile_is_taken_when_listed_and_refused_otherwise()
    {
        string listed = Context.Info.SubgroupSize >= 16 ? "16x16x16" : "8x8x8";
        var shape = new Shape(33, 40, 17);
        var (first, second) = Inputs(Layout.Forward, shape, seed: 11);
        var dispatched = new List<string>();
        float[] actual = WithSwitch(MatmulKernels.CooperativeTileVariable, listed,
            () => WithPath(MatmulPath.CooperativeMatrix, () => RunGuarded(Layout.Forward, shape, first, second, prior: null, dispatched: dispatched)));
        AssertWithinBound(actual, Layout.Forward, shape, first, second, prior: null, MatmulPath.CooperativeMatrix);
        Assert.Contains($"matmul_coopmat_f16_{listed}", dispatched);

        string unlisted = listed == "8x8x8" ? "16x16x16" : "8x8x8";
        var error = WithSwitch(MatmulKernels.CooperativeTileVariable, unlisted, () => Assert.Throws<InvalidInputException>(() => MatmulKernels.CooperativeMatrixTile(Context, out _)));
        Assert.StartsWith($"VKDIFF_COOPMAT_TILE={unlisted}: {Context.Info.Name} does not list that fp16 x fp16 + fp32 shape", error.Message);
        error = WithSwitch(MatmulKernels.CooperativeTileVariable, "32x32x32", () => Assert.Throws<InvalidInputException>(() => MatmulKernels.CooperativeMatrixTile(Context, out _)));
        Assert.Contains("is not a tile the kernels are built for; use one of 16x16x16, 16x8x16, 8x16x16, 8x8x8", error.Message);
    }

    public static TheoryData<MatmulPath, Layout> SplitCases()
    {
        var data = new TheoryData<MatmulPath, Layout>();
        foreach (MatmulPath path in Float32Paths)
            foreach (Layout layout in Enum.GetValues<Layout>())
                data.Add(path, layout);
        return data;
    }

    // Split-K into 3 slices of a ragged reduction of 1000 (384, 384, 232), overwriting and accumulating.
    [Theory, MemberData(nameof(SplitCases))]
    public void Split_reductions_match_the_double_reference(MatmulPath path, Layout layout) => AssertSplitProduct(path, layout, 1000, 3);

    // Two slices (320 and 280) of a reduction of 600.
    [Theory, Trait("Category", "CooperativeMatrix")]
    [InlineData(Layout.Forward)]
    [InlineData(Layout.BackwardInput)]
    [InlineData(Layout.BackwardWeight)]
    public void Cooperative_matrix_split_reductions_match_the_double_reference(Layout layout) =>
        AssertSplitProduct(MatmulPath.CooperativeMatrix, layout, 600, 2);

    private void AssertSplitProduct(MatmulPath path, Layout layout, int reductionLength, int splitCount)
    {
        var shape = layout switch
        {
            Layout.Forward => new Shape(37, reductionLength, 21),
            Layout.BackwardInput => new Shape(37, 21, reductionLength),
            _ => new Shape(reductionLength, 21, 37),
        };
        var (first, second) = Inputs(layout, shape, seed: 51);
        float[] prior = TestData.Uniform(OutputCount(layout, shape), seed: 52, low: -3, high: 3);
        using (MatmulKernels.Override(path, splitCount))
        {
            AssertWithinBound(RunGuarded(layout, shape, first, second, prior: null), layout, shape, first, second, prior: null, path);
            AssertWithinBound(RunGuarded(layout, shape, first, second, prior), layout, shape, first, second, prior, path);
        }
    }

    // The automatic rule: a product whose output tiles fill the device is not split; one with a handful of tiles and a
    // long reduction is split so the grid has about 4 workgroups per core on a CPU device (512 on a GPU), never into
    // slices shorter than 256.
    [Fact]
    public void Split_count_follows_the_tiles_and_the_reduction()
    {
        DeviceInfo cpu = Context.Info, gpu = DeviceKinds.Gpu(Context.Info);
        long cpuTarget = 4L * Environment.ProcessorCount;
        Assert.Equal(1, MatmulKernels.SplitCount(cpu, outputTiles: cpuTarget, reductionLength: 50304));
        Assert.Equal((int)cpuTarget, MatmulKernels.SplitCount(cpu, outputTiles: 1, reductionLength: 50304));
        Assert.Equal(2, MatmulKernels.SplitCount(cpu, outputTiles: 1, reductionLength: 600));
        Assert.Equal(1, MatmulKernels.SplitCount(gpu, outputTiles: 300, reductionLength: 50304));
        Assert.Equal(16, MatmulKernels.SplitCount(gpu, outputTiles: 32, reductionLength: 50304));
        Assert.Equal(1, MatmulKernels.SplitCount(gpu, outputTiles: 32, reductionLength: 500));
    }

    [Theory]
    [InlineData(MatmulPath.RegisterBlocked)]
    [InlineData(MatmulPath.RegisterBlockedTexels)]
    [InlineData(MatmulPath.Tiled)]
    [InlineData(MatmulPath.Reference)]
    public void Accumulate_adds_into_the_existing_output(MatmulPath path) => AssertAccumulates(path);

    [Fact, Trait("Category", "CooperativeMatrix")]
    public void Cooperative_matrix_accumulate_adds_into_the_existing_output() => AssertAccumulates(MatmulPath.CooperativeMatrix);

    private void AssertAccumulates(MatmulPath path)
    {
        foreach (Layout layout in Enum.GetValues<Layout>())
        {
            var shape = new Shape(37, 68, 20);
            var (first, second) = Inputs(layout, shape, seed: 11);
            float[] prior = TestData.Uniform(OutputCount(layout, shape), seed: 12, low: -3, high: 3);
            float[] actual = WithPath(path, () => RunGuarded(layout, shape, first, second, prior));
            AssertWithinBound(actual, layout, shape, first, second, prior, path);
        }
    }

    // Batched use, as attention's unfused baseline does it: S_b = Q_b K_b^T (forward) and O_b = P_b V_b
    // (backward-input layout), with per-batch strides, and a weight shared across the batch (stride 0).
    [Theory]
    [InlineData(MatmulPath.RegisterBlocked)]
    [InlineData(MatmulPath.RegisterBlockedTexels)]
    [InlineData(MatmulPath.Tiled)]
    public void Batched_products_match_per_batch_references(MatmulPath path) => AssertBatchedProducts(path);

    [Fact, Trait("Category", "CooperativeMatrix")]
    public void Cooperative_matrix_batched_products_match_per_batch_references() => AssertBatchedProducts(MatmulPath.CooperativeMatrix);

    private void AssertBatchedProducts(MatmulPath path)
    {
        const int batchCount = 3, tokens = 9, headDim = 8;
        float[] q = TestData.Uniform(batchCount * tokens * headDim, seed: 21);
        float[] k = TestData.Uniform(batchCount * tokens * headDim, seed: 22);
        float[] v = TestData.Uniform(batchCount * tokens * headDim, seed: 23);
        using GpuBuffer qBuffer = Context.Upload<float>(q, "q"), kBuffer = Context.Upload<float>(k, "k"), vBuffer = Context.Upload<float>(v, "v");
        using GpuBuffer scores = Context.Allocate<float>(batchCount * tokens * tokens, "scores");
        using GpuBuffer output = Context.Allocate<float>(batchCount * tokens * headDim, "output");
        using GpuBuffer shared = Context.Allocate<float>(batchCount * tokens * tokens, "shared-weight-output");
        WithPath(path, () =>
        {
            Context.Execute(c =>
            {
                MatmulKernels.Forward(c, qBuffer.Whole, kBuffer.Whole, scores.Whole, tokens, headDim, tokens,
                    batchCount, tokens * headDim, tokens * headDim, tokens * tokens);
                MatmulKernels.BackwardInput(c, scores.Whole, vBuffer.Whole, output.Whole, tokens, headDim, tokens,
                    batchCount, tokens * tokens, tokens * headDim, tokens * headDim);
                // Every batch entry multiplies by the same weight: K of batch 0.
                MatmulKernels.Forward(c, qBuffer.Whole, kBuffer.Whole, shared.Whole, tokens, headDim, tokens,
                    batchCount, tokens * headDim, 0, tokens * tokens);
            });
            return 0;
        });
        float[] scoresActual = Context.Download<float>(scores), outputActual = Context.Download<float>(output), sharedActual = Context.Download<float>(shared);
        for (int b = 0; b < batchCount; b++)
        {
            float[] qb = q.AsSpan(b * tokens * headDim, tokens * headDim).ToArray(), kb = k.AsSpan(b * tokens * headDim, tokens * headDim).ToArray();
            float[] vb = v.AsSpan(b * tokens * headDim, tokens * headDim).ToArray();
            var scoreShape = new Shape(tokens, headDim, tokens);
            float[] sb = scoresActual.AsSpan(b * tokens * tokens, tokens * tokens).ToArray();
            AssertWithinBound(sb, Layout.Forward, scoreShape, qb, kb, prior: null, path);
            // The second product consumes the GPU's scores, so its reference does too.
            AssertWithinBound(outputActual.AsSpan(b * tokens * headDim, tokens * headDim).ToArray(), Layout.BackwardInput, scoreShape, sb, vb, prior: null, path);
            float[] k0 = k.AsSpan(0, tokens * headDim).ToArray();
            AssertWithinBound(sharedActual.AsSpan(b * tokens * tokens, tokens * tokens).ToArray(), Layout.Forward, scoreShape, qb, k0, prior: null, path);
        }
    }

    // No atomics and a fixed summation order: replaying the same recording must reproduce every bit, split or not.
    [Theory]
    [InlineData(Layout.Forward, 1)]
    [InlineData(Layout.BackwardWeight, 1)]
    [InlineData(Layout.Forward, 3)]
    [InlineData(Layout.BackwardInput, 3)]
    [InlineData(Layout.BackwardWeight, 3)]
    public void Repeated_runs_are_bit_identical(Layout layout, int splitCount)
    {
        var shape = splitCount == 1 ? new Shape(96, 130, 72) : new Shape(800, 800, 800);
        var (first, second) = Inputs(layout, shape, seed: 31);
        using GpuBuffer a = Context.Upload<float>(first, "a"), b = Context.Upload<float>(second, "b");
        using GpuBuffer c = Context.Allocate<float>(OutputCount(layout, shape), "c");
        using CommandList commands = Context.CreateCommandList();
        using (MatmulKernels.Override(splitCount: splitCount))
            Record(commands, layout, shape, a.Whole, b.Whole, c.Whole, accumulate: false);
        Context.Run(commands);
        int[] firstBits = Context.Download<float>(c).Select(BitConverter.SingleToInt32Bits).ToArray();
        for (int run = 0; run < 3; run++)
        {
            Context.Run(commands);
            Assert.Equal(firstBits, Context.Download<float>(c).Select(BitConverter.SingleToInt32Bits).ToArray());
        }
    }

    // Operands larger than maxStorageBufferRange (128 MiB on lavapipe) are split: forward along rows, the
    // weight gradient along the reduction (accumulating). With in = 1 each forward output is one product,
    // a single rounding on both sides, so it must match exactly; the weight gradient has the usual bound.
    [Fact]
    public void Operands_beyond_the_binding_range_are_split()
    {
        int outFeatures = 260;
        int rowCount = (int)(Context.Info.MaxStorageBufferRange / 4 / (ulong)outFeatures) + 5;
        var shape = new Shape(rowCount, 1, outFeatures);
        float[] x = TestData.Uniform(rowCount, seed: 41), w = TestData.Uniform(outFeatures, seed: 42);
        using GpuBuffer xBuffer = Context.Upload<float>(x, "x"), wBuffer = Context.Upload<float>(w, "w");
        using GpuBuffer y = Context.Allocate<float>((long)rowCount * outFeatures, "y");
        using GpuBuffer dw = Context.Allocate<float>(outFeatures, "dw");
        Context.Execute(c =>
        {
            MatmulKernels.Forward(c, xBuffer.Whole, wBuffer.Whole, y.Whole, rowCount, 1, outFeatures);
            MatmulKernels.BackwardWeight(c, y.Whole, xBuffer.Whole, dw.Whole, rowCount, 1, outFeatures);
        });
        float[] actual = Context.Download<float>(y);
        for (int m = 0; m < rowCount; m += 997)
            for (int n = 0; n < outFeatures; n++)
                Assert.Equal(x[m] * w[n], actual[(long)m * outFeatures + n]);
        AssertWithinBound(Context.Download<float>(dw), Layout.BackwardWeight, shape, actual, x, prior: null);
    }

    [Fact]
    public void Sixteen_bit_operands_take_the_paths_that_have_16_bit_variants()
    {
        using (MatmulKernels.Override(MatmulPath.RegisterBlockedTexels))
        {
            Assert.Equal(MatmulPath.RegisterBlocked, MatmulKernels.ChoosePath(Context, Precision.Bf16));
            Assert.Equal(MatmulPath.RegisterBlockedTexels, MatmulKernels.ChoosePath(Context, Precision.Fp32));
        }
        using (MatmulKernels.Override(MatmulPath.CooperativeMatrix))
        {
            Assert.Equal(MatmulPath.Tiled, MatmulKernels.ChoosePath(Context, Precision.Bf16));
            Assert.Equal(MatmulPath.CooperativeMatrix, MatmulKernels.ChoosePath(Context, Precision.Fp16));
        }
        // lavapipe is a CPU device: fp16 does not go to (emulated) matrix units unless forced.
        Assert.Equal(MatmulPath.RegisterBlocked, MatmulKernels.ChoosePath(Context, Precision.Fp16));
    }

    [Fact]
    public void An_unknown_path_in_the_environment_is_a_clear_error()
    {
        var error = Assert.Throws<InvalidInputException>(() => WithPath("fastest", () => MatmulKernels.ChoosePath(Context.Info)));
        Assert.Contains(MatmulKernels.PathVariable, error.Message);
    }

    private readonly record struct Shape(int RowCount, int InFeatures, int OutFeatures);

    // (first, second) operands of each layout: forward (x, w), backward-input (dy, w), backward-weight (dy, x).
    private static (float[] First, float[] Second) Inputs(Layout layout, Shape shape, int seed)
    {
        var (m, k, n) = (shape.RowCount, shape.InFeatures, shape.OutFeatures);
        return layout switch
        {
            Layout.Forward => (TestData.Uniform(m * k, seed), TestData.Uniform(n * k, seed + 1)),
            Layout.BackwardInput => (TestData.Uniform(m * n, seed), TestData.Uniform(n * k, seed + 1)),
            _ => (TestData.Uniform(m * n, seed), TestData.Uniform(m * k, seed + 1)),
        };
    }

    private static int OutputCount(Layout layout, Shape shape) => layout switch
    {
        Layout.Forward => shape.RowCount * shape.OutFeatures,
        Layout.BackwardInput => shape.RowCount * shape.InFeatures,
        _ => shape.OutFeatures * shape.InFeatures,
    };

    private static int ReductionLength(Layout layout, Shape shape) => layout switch
    {
        Layout.Forward => shape.InFeatures,
        Layout.BackwardInput => shape.OutFeatures,
        _ => shape.RowCount,
    };

    private static void Record(CommandList commands, Layout layout, Shape shape, BufferSlice first, BufferSlice second, BufferSlice output, bool accumulate,
        Precision operands = Precision.Fp32)
    {
        var (m, k, n) = (shape.RowCount, shape.InFeatures, shape.OutFeatures);
        switch (layout)
        {
            case Layout.Forward: MatmulKernels.Forward(commands, first, second, output, m, k, n, accumulate, operands); break;
            case Layout.BackwardInput: MatmulKernels.BackwardInput(commands, first, second, output, m, k, n, accumulate, operands); break;
            default: MatmulKernels.BackwardWeight(commands, first, second, output, m, k, n, accumulate, operands); break;
        }
    }

    private static double[] Reference(Layout layout, Shape shape, float[] first, float[] second)
    {
        var (m, k, n) = (shape.RowCount, shape.InFeatures, shape.OutFeatures);
        return layout switch
        {
            Layout.Forward => MatmulReference.Forward(first, second, m, k, n),
            Layout.BackwardInput => MatmulReference.BackwardInput(first, second, m, k, n),
            _ => MatmulReference.BackwardWeight(first, second, m, k, n),
        };
    }

    // Runs one product into an output followed by GuardCount sentinel floats, checks the guards survived,
    // and returns the output. prior (when given) is the output's initial value and accumulate is on.
    private float[] RunGuarded(Layout layout, Shape shape, float[] first, float[] second, float[]? prior, Precision operands = Precision.Fp32,
        List<string>? dispatched = null)
    {
        int count = OutputCount(layout, shape);
        float[] initial = new float[count + GuardCount];
        Array.Fill(initial, Sentinel);
        prior?.CopyTo(initial, 0);
        using GpuBuffer a = Upload(first, operands, "a"), b = Upload(second, operands, "b");
        using GpuBuffer c = Context.Upload<float>(initial, "c+guard");
        Context.Execute(commands =>
        {
            Record(commands, layout, shape, a.Whole, b.Whole, c.Elements<float>(0, count), accumulate: prior is not null, operands);
            dispatched?.AddRange(commands.DispatchedKernels.Select(kernel => kernel.Name));
        });
        float[] result = Context.Download<float>(c);
        Assert.All(result.Skip(count), guard => Assert.Equal(Sentinel, guard));
        return result.Take(count).ToArray();
    }

    private GpuBuffer Upload(float[] values, Precision operands, string name) => operands == Precision.Fp32
        ? Context.Upload<float>(values, name)
        : Context.Upload<ushort>(SixteenBitReference.Encode(values, operands), name);

    private static void AssertWithinBound(float[] actual, Layout layout, Shape shape, float[] first, float[] second, float[]? prior,
        MatmulPath path = MatmulPath.Tiled)
    {
        double[] exact = Reference(layout, shape, first, second);
        double[] magnitude = Reference(layout, shape, first.Select(Math.Abs).ToArray(), second.Select(Math.Abs).ToArray());
        double unit = Math.Pow(2, -24) * (ReductionLength(layout, shape) + 2) + (path == MatmulPath.CooperativeMatrix ? Math.Pow(2, -9) : 0);
        Assert.Equal(exact.Length, actual.Length);
        for (int i = 0; i < actual.Length; i++)
        {
            double expected = exact[i] + (prior?[i] ?? 0);
            double bound = unit * (magnitude[i] + Math.Abs(prior?[i] ?? 0)) + 1e-30;
            double error = Math.Abs(actual[i] - expected);
            Assert.True(error <= bound, $"{layout} {shape}: element {i} is {actual[i]}, expected {expected} within {bound:E2} (error {error:E2})");
        }
    }

    // GPU tests run one at a time (one collection), so a process-wide variable is safe to flip here.
    private static T WithPath<T>(MatmulPath path, Func<T> action) => WithPath(MatmulKernels.PathName(path), action);

    private static T WithPath<T>(string value, Func<T> action) => WithSwitch(MatmulKernels.PathVariable, value, action);

    private static T WithSwitch<T>(string variable, string value, Func<T> action)
    {
        string? previous = Environment.GetEnvironmentVariable(variable);
        Environment.SetEnvironmentVariable(variable, value);
        try
        {
            return action();
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, previous);
        }
    }
}
