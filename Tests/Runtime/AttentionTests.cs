using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

public sealed class AttentionTests(GpuFixture fixture) : GpuTest(fixture)
{
    // Q, K, V ~ N(0, 1.5²): scores q·k/√d have standard deviation 2.25, so softmax rows are peaked and the
    // online-softmax rescaling is exercised, not just near-uniform averages.
    private const float InputStd = 1.5f;

    // Tolerances (fp32 kernels vs the double reference). Each score is a HEAD_DIM-term fp32 dot product of
    // values |q_d k_d| ≲ 10, so its error is ~√d·2⁻²⁴·10 ≈ 1e-5 at d = 128 (worst case d·2⁻²⁴·Σ|q_d k_d|
    // ≈ 1e-4); exp carries a few ulps; outputs are convex combinations of V (|v| ≲ 7) over ≤ 256 keys, so
    // the output error is about |v| times the score error plus T·2⁻²⁴·|v| of accumulation: ~1e-4 worst case.
    // atol 2e-4 with rtol 1e-4 covers that. LSE is a score-sized quantity: same bound.
    // The gradients are sums over ≤ 256 keys of products of such terms (|dS| ≲ |dP| ≲ 10, times |k| ≲ 7):
    // one more factor of ~10 in magnitude, so atol 2e-3, rtol 1e-3.
    private const double OutputAtol = 2e-4, OutputRtol = 1e-4;
    private const double GradAtol = 2e-3, GradRtol = 1e-3;

    // (T, headDim, batch, heads, causal): every T × head dim × mask pairing appears, with batch×heads 1 or 3
    // (as 3 batches or 3 heads); big T and head dims get fewer cases so the class stays fast on lavapipe.
    public static TheoryData<int, int, int, int, bool> Cases => new()
    {
        { 1, 32, 1, 1, true }, { 1, 128, 1, 3, false }, { 1, 16, 1, 1, false },
        { 5, 16, 1, 3, true }, { 129, 16, 3, 1, false }, { 128, 16, 2, 4, true },
        { 5, 32, 3, 1, true }, { 5, 64, 1, 3, false }, { 5, 128, 1, 1, true },
        { 64, 64, 1, 1, true }, { 64, 32, 1, 3, false }, { 64, 128, 3, 1, true },
        { 129, 64, 1, 3, true }, { 129, 64, 1, 1, false }, { 129, 32, 3, 1, true }, { 129, 128, 1, 1, false },
        { 256, 64, 1, 3, true }, { 256, 32, 1, 1, false }, { 256, 128, 1, 1, true }, { 256, 64, 3, 1, false },
    };

    [Theory, MemberData(nameof(Cases))]
    public void Forward_and_backward_match_the_double_reference(int T, int headDim, int batchCount, int headCount, bool causal)
    {
        float[] qkv = TestData.Normal(batchCount * T * 3 * headCount * headDim, seed: T * 7 + headDim, std: InputStd);
        float[] dOutput = TestData.Normal(batchCount * T * headCount * headDim, seed: T + 1);
        var gpu = RunFused(qkv, dOutput, batchCount, T, headCount, headDim, causal);

        var (output, logSumExp) = AttentionReference.Forward(qkv, batchCount, T, headCount, headDim, causal);
        float[] dQkv = AttentionReference.Backward(qkv, dOutput, batchCount, T, headCount, headDim, causal);
        TestData.AssertClose(gpu.Output, output, OutputAtol, OutputRtol, "output");
        TestData.AssertClose(gpu.LogSumExp, logSumExp, OutputAtol, OutputRtol, "logSumExp");
        TestData.AssertClose(gpu.QkvGrad, dQkv, GradAtol, GradRtol, "dQkv");
    }

    // Loss = Σ output ∘ W, so dOutput = W; its gradient by central differences of the double reference
    // forward (step 1e-4: truncation ~h²·|f'''| ≈ 1e-8, rounding ~1e-16/h ≈ 1e-12). The reference
    // backward must match to 1e-6; the GPU backward to the fp32 gradient tolerance above.
    [Theory, InlineData(true), InlineData(false)]
    public void Backward_matches_finite_differences(bool causal)
    {
        const int batchCount = 1, T = 5, headCount = 2, headDim = 32;
        const double step = 1e-4;
        float[] qkv = TestData.Normal(batchCount * T * 3 * headCount * headDim, seed: 11, std: InputStd);
        float[] weights = TestData.Normal(batchCount * T * headCount * headDim, seed: 12);
        double[] point = Array.ConvertAll(qkv, v => (double)v), w = Array.ConvertAll(weights, v => (double)v);
        double Loss(double[] x)
        {
            double[] output = AttentionReference.Forward(x, batchCount, T, headCount, headDim, causal).Output;
            double sum = 0;
            for (int i = 0; i < output.Length; i++) sum += output[i] * w[i];
            return sum;
        }
        var numeric = new float[point.Length];
        for (int i = 0; i < point.Length; i++)
        {
            double saved = point[i];
            point[i] = saved + step;
            double up = Loss(point);
            point[i] = saved - step;
            double down = Loss(point);
            point[i] = saved;
            numeric[i] = (float)((up - down) / (2 * step));
        }
        double[] reference = AttentionReference.Backward(point, w, batchCount, T, headCount, headDim, causal);
        TestData.AssertClose(Array.ConvertAll(reference, v => (float)v), numeric, 1e-6, 1e-6, "reference backward vs finite differences");
        float[] gpu = RunFused(qkv, weights, batchCount, T, headCount, headDim, causal).QkvGrad;
        TestData.AssertClose(gpu, numeric, GradAtol, GradRtol, "GPU backward vs finite differences");
    }

    // Keys and values after position `last` are replaced by other (larger) random values: if a causal kernel
    // let any of them contribute to rows 0..last, those rows would change. Their outputs, LSE and dQ must be
    // bit-identical. (Inside the diagonal block a masked key gets probability exactly 0, and adding 0·v to
    // an accumulator that starts at +0 changes no bits.)
    [Fact]
    public void Causal_rows_never_read_future_keys()
    {
        const int batchCount = 1, T = 129, headCount = 2, headDim = 64, last = 40;
        float[] qkv = TestData.Normal(batchCount * T * 3 * headCount * headDim, seed: 21, std: InputStd);
        float[] dOutput = TestData.Normal(batchCount * T * headCount * headDim, seed: 22);
        float[] poisoned = (float[])qkv.Clone();
        float[] replacement = TestData.Normal(qkv.Length, seed: 23, std: 3f);
        for (int t = last + 1; t < T; t++)
            for (int part = 1; part < 3; part++)
                for (int h = 0; h < headCount; h++)
                    for (int d = 0; d < headDim; d++)
                        {
                        int index = AttentionReference.QkvIndex(0, t, part, h, d, T, headCount, headDim);
                        poisoned[index] = replacement[index];
                    }
        var clean = RunFused(qkv, dOutput, batchCount, T, headCount, headDim, causal: true);
        var perturbed = RunFused(poisoned, dOutput, batchCount, T, headCount, headDim, causal: true);
        // The perturbation is real: the last row, which sees the perturbed keys, changes.
        Assert.NotEqual(clean.LogSumExp[T - 1], perturbed.LogSumExp[T - 1]);
        for (int t = 0; t <= last; t++)
            for (int h = 0; h < headCount; h++)
            {
                Assert.Equal(Bits(clean.LogSumExp[h * T + t]), Bits(perturbed.LogSumExp[h * T + t]));
                for (int d = 0; d < headDim; d++)
                {
                    int row = AttentionReference.RowIndex(0, t, h, d, T, headCount, headDim);
                    Assert.Equal(Bits(clean.Output[row]), Bits(perturbed.Output[row]));
                    int query = AttentionReference.QkvIndex(0, t, 0, h, d, T, headCount, headDim);
                    Assert.Equal(Bits(clean.QkvGrad[query]), Bits(perturbed.QkvGrad[query]));
                }
            }
    }

    [Theory, InlineData(true), InlineData(false)]
    public void Repeated_runs_are_bit_identical(bool causal)
    {
        const int batchCount = 2, T = 129, headCount = 3, headDim = 64;
        float[] qkv = TestData.Normal(batchCount * T * 3 * headCount * headDim, seed: 31, std: InputStd);
        float[] dOutput = TestData.Normal(batchCount * T * headCount * headDim, seed: 32);
        var first = RunFused(qkv, dOutput, batchCount, T, headCount, headDim, causal, repeats: 3);
        var second = RunFused(qkv, dOutput, batchCount, T, headCount, headDim, causal);
        Assert.Equal(first.Output.Select(Bits), second.Output.Select(Bits));
        Assert.Equal(first.LogSumExp.Select(Bits), second.LogSumExp.Select(Bits));
        Assert.Equal(first.QkvGrad.Select(Bits), second.QkvGrad.Select(Bits));
    }

    // Batches beyond maxStorageBufferRange or 65 535 grid rows are split over several dispatches. Capping a
    // dispatch at 2 of 7 batches reaches that path cheaply: the LSE chunks start at bytes 120, 240, 360, not
    // multiples of lavapipe's 16-byte offset alignment, so the windows are bound from rounded-down offsets
    // plus an element offset. Results must be bit-identical to the single dispatch.
    [Theory, InlineData(true), InlineData(false)]
    public void Chunked_batches_give_the_same_bits(bool causal)
    {
        const int batchCount = 7, T = 5, headCount = 3, headDim = 32;
        float[] qkv = TestData.Normal(batchCount * T * 3 * headCount * headDim, seed: 41, std: InputStd);
        float[] dOutput = TestData.Normal(batchCount * T * headCount * headDim, seed: 42);
        var whole = RunFused(qkv, dOutput, batchCount, T, headCount, headDim, causal);
        var chunked = RunFused(qkv, dOutput, batchCount, T, headCount, headDim, causal, maxBatchesPerDispatch: 2);
        Assert.Equal(whole.Output.Select(Bits), chunked.Output.Select(Bits));
        Assert.Equal(whole.LogSumExp.Select(Bits), chunked.LogSumExp.Select(Bits));
        Assert.Equal(whole.QkvGrad.Select(Bits), chunked.QkvGrad.Select(Bits));
        TestData.AssertClose(chunked.Output, AttentionReference.Forward(qkv, batchCount, T, headCount, headDim, causal).Output,
            OutputAtol, OutputRtol, "output");
    }

    // GPUs stage K/V (forward, dQ) and Q/dO/LSE/delta (dK/dV) in shared memory with one row per invocation;
    // CPU devices read them in place with 8 (head dim 128: 4) rows per invocation, through texel buffers.
    // Both paths, both row blockings and both kinds of load, with several block shapes (8/32/64 invocations
    // per group, staging 8/16/64; T = 77 leaves partial row groups and partial staging blocks), must match
    // the reference on this device.
    [Theory]
    [InlineData(32u, 16u, true, true, 1u, false)]
    [InlineData(64u, 64u, true, false, 1u, false)]
    [InlineData(8u, 8u, true, true, 1u, false)]
    [InlineData(8u, 32u, false, false, 1u, false)]
    [InlineData(8u, 16u, false, true, 8u, false)]
    [InlineData(8u, 64u, true, false, 8u, false)]
    [InlineData(4u, 8u, true, true, 8u, false)]
    [InlineData(8u, 16u, false, true, 8u, true)]
    [InlineData(8u, 32u, false, false, 8u, true)]
    [InlineData(32u, 16u, true, true, 1u, true)]
    [InlineData(4u, 8u, true, false, 8u, true)]
    public void Every_block_shape_and_staging_path_matches_the_reference(uint rowBlock, uint stageBlock, bool stageInShared, bool causal,
        uint rowsPerInvocation, bool texelLoads)
    {
        const int batchCount = 1, T = 77, headCount = 2, headDim = 32;
        float[] qkv = TestData.Normal(batchCount * T * 3 * headCount * headDim, seed: 61, std: InputStd);
        float[] dOutput = TestData.Normal(batchCount * T * headCount * headDim, seed: 62);
        var gpu = RunFused(qkv, dOutput, batchCount, T, headCount, headDim, causal,
            blocks: new AttentionBlocks(rowBlock, stageBlock, stageInShared, rowsPerInvocation, texelLoads));
        var (output, logSumExp) = AttentionReference.Forward(qkv, batchCount, T, headCount, headDim, causal);
        TestData.AssertClose(gpu.Output, output, OutputAtol, OutputRtol, "output");
        TestData.AssertClose(gpu.LogSumExp, logSumExp, OutputAtol, OutputRtol, "logSumExp");
        TestData.AssertClose(gpu.QkvGrad, AttentionReference.Backward(qkv, dOutput, batchCount, T, headCount, headDim, causal),
            GradAtol, GradRtol, "dQkv");
    }

    // On CPU devices qkv and dO are read as fp32x4 texels when every row starts on a whole texel, and as fp32
    // texels otherwise: inputs 1 or 2 elements into their buffers take the fp32 path, 4 the fp32x4 one.
    [Theory, InlineData(1), InlineData(2), InlineData(4)]
    public void Inputs_at_any_element_offset_match_the_reference(int inputOffset)
    {
        const int batchCount = 2, T = 19, headCount = 2, headDim = 16;
        float[] qkv = TestData.Normal(batchCount * T * 3 * headCount * headDim, seed: 71, std: InputStd);
        float[] dOutput = TestData.Normal(batchCount * T * headCount * headDim, seed: 72);
        var gpu = RunFused(qkv, dOutput, batchCount, T, headCount, headDim, causal: true, inputOffset: inputOffset);
        var (output, logSumExp) = AttentionReference.Forward(qkv, batchCount, T, headCount, headDim, causal: true);
        TestData.AssertClose(gpu.Output, output, OutputAtol, OutputRtol, "output");
        TestData.AssertClose(gpu.LogSumExp, logSumExp, OutputAtol, OutputRtol, "logSumExp");
        TestData.AssertClose(gpu.QkvGrad, AttentionReference.Backward(qkv, dOutput, batchCount, T, headCount, headDim, causal: true),
            GradAtol, GradRtol, "dQkv");
    }

    // Under mixed precision the storage-buffer variants read fp16 or bf16 qkv and compute in fp32: the result is the
    // reference on the inputs as rounded to 16 bits, within the fp32 bounds. The rounding itself moves the output
    // beyond those bounds (asserted), so a kernel that read the values wrong, or the reference on unrounded inputs,
    // fails. In place with the device's row blocking (null blocks; texel loads go off for 16-bit inputs) and staged in
    // shared memory one row per invocation (the GPU blocking); both masks, ragged T, every head dim.
    [Theory]
    [InlineData(Precision.Fp16, 77, 32, true, false)]
    [InlineData(Precision.Bf16, 77, 32, false, false)]
    [InlineData(Precision.Fp16, 33, 64, false, true)]
    [InlineData(Precision.Bf16, 33, 16, true, true)]
    [InlineData(Precision.Bf16, 5, 128, true, false)]
    [InlineData(Precision.Fp16, 19, 128, false, true)]
    public void Sixteen_bit_inputs_match_the_reference_on_the_rounded_inputs(Precision inputs, int T, int headDim, bool causal, bool gpuBlocking)
    {
        const int batchCount = 1, headCount = 2;
        float[] qkv = TestData.Normal(batchCount * T * 3 * headCount * headDim, seed: T * 5 + headDim, std: InputStd);
        float[] dOutput = TestData.Normal(batchCount * T * headCount * headDim, seed: T + 2);
        float[] rounded = SixteenBitReference.Round(qkv, inputs);
        AttentionBlocks? blocks = gpuBlocking ? new AttentionBlocks(32, 16, StageInShared: true) : null;
        var gpu = RunFused(qkv, dOutput, batchCount, T, headCount, headDim, causal, blocks: blocks, inputs: inputs);

        var (output, logSumExp) = AttentionReference.Forward(rounded, batchCount, T, headCount, headDim, causal);
        float[] dQkv = AttentionReference.Backward(rounded, dOutput, batchCount, T, headCount, headDim, causal);
        float[] unroundedOutput = AttentionReference.Forward(qkv, batchCount, T, headCount, headDim, causal).Output;
        Assert.Contains(Enumerable.Range(0, output.Length), i => Math.Abs(output[i] - unroundedOutput[i]) > OutputAtol + OutputRtol * Math.Abs(output[i]));
        TestData.AssertClose(gpu.Output, output, OutputAtol, OutputRtol, "output");
        TestData.AssertClose(gpu.LogSumExp, logSumExp, OutputAtol, OutputRtol, "logSumExp");
        TestData.AssertClose(gpu.QkvGrad, dQkv, GradAtol, GradRtol, "dQkv");
    }

    // 16-bit qkv at an odd element offset (a 2-byte misalignment within its binding) and in chunks of 2 of 7 batches: the
    // element offsets count 16-bit elements, and the chunks give the bits of the single dispatch.
    [Theory, InlineData(Precision.Fp16), InlineData(Precision.Bf16)]
    public void Sixteen_bit_inputs_at_an_odd_offset_and_in_chunks_give_the_same_bits(Precision inputs)
    {
        const int batchCount = 7, T = 5, headCount = 3, headDim = 16;
        float[] qkv = TestData.Normal(batchCount * T * 3 * headCount * headDim, seed: 81, std: InputStd);
        float[] dOutput = TestData.Normal(batchCount * T * headCount * headDim, seed: 82);
        var whole = RunFused(qkv, dOutput, batchCount, T, headCount, headDim, causal: true, inputs: inputs);
        var chunked = RunFused(qkv, dOutput, batchCount, T, headCount, headDim, causal: true, maxBatchesPerDispatch: 2, inputOffset: 1, inputs: inputs);
        Assert.Equal(whole.Output.Select(Bits), chunked.Output.Select(Bits));
        Assert.Equal(whole.LogSumExp.Select(Bits), chunked.LogSumExp.Select(Bits));
        Assert.Equal(whole.QkvGrad.Select(Bits), chunked.QkvGrad.Select(Bits));
        float[] rounded = SixteenBitReference.Round(qkv, inputs);
        TestData.AssertClose(chunked.Output, AttentionReference.Forward(rounded, batchCount, T, headCount, headDim, causal: true).Output,
            OutputAtol, OutputRtol, "output");
        TestData.AssertClose(chunked.QkvGrad, AttentionReference.Backward(rounded, dOutput, batchCount, T, headCount, headDim, causal: true),
            GradAtol, GradRtol, "dQkv");
    }

    // The texel-buffer variants have no 16-bit form: asked for one, the kernel layer refuses rather than misread.
    [Fact]
    public void Sixteen_bit_inputs_refuse_texel_loads()
    {
        var error = Assert.Throws<ArgumentException>(() => RunFused(new float[3 * 16], new float[16], 1, 1, 1, 16, causal: true,
            blocks: new AttentionBlocks(8, 8, StageInShared: false, RowsPerInvocation: 8, TexelLoads: true), inputs: Precision.Bf16));
        Assert.StartsWith("attention: bf16 qkv is read from storage buffers, not texel buffers", error.Message);
    }

    // Split rows (attention_*_split, the GPU default at head dims 64 and 128): each row's head dim across 4 or 8 lanes of a
    // subgroup, the dot products added across them with shuffles, the softmax state kept on every lane. Forced here with
    // explicit blocks: workgroups of 256, 64 and 32 invocations (head dim 128: 32, 8 and 4 rows), so T = 77, 33 and 19
    // leave a partial row group; staging blocks 4 to 32 (within 32 KiB), the last one partial; both masks; fp32 (storage buffers and
    // lavapipe's texels) and 16-bit qkv, against the reference on the inputs as the kernels read them. Where the device's
    // subgroups hold fewer invocations than a row's lanes (lavapipe at subgroup 4, head dim 128) the kernels are refused.
    [Theory]
    [InlineData(77, 64, true, Precision.Fp32, 256u, 16u, false)]
    [InlineData(77, 64, false, Precision.Fp32, 64u, 32u, true)]
    [InlineData(77, 128, true, Precision.Fp32, 256u, 16u, false)]
    [InlineData(33, 128, false, Precision.Fp32, 32u, 8u, true)]
    [InlineData(33, 64, true, Precision.Fp16, 32u, 16u, false)]
    [InlineData(19, 128, false, Precision.Bf16, 64u, 16u, false)]
    [InlineData(77, 128, true, Precision.Fp16, 256u, 4u, false)]
    [InlineData(33, 64, false, Precision.Bf16, 256u, 8u, false)]
    public void Split_rows_match_the_reference(int T, int headDim, bool causal, Precision inputs, uint rowBlock, uint stageBlock, bool texelLoads)
    {
        const int batchCount = 2, headCount = 2;
        float[] qkv = TestData.Normal(batchCount * T * 3 * headCount * headDim, seed: T * 3 + headDim, std: InputStd);
        float[] dOutput = TestData.Normal(batchCount * T * headCount * headDim, seed: T + 5);
        var blocks = new AttentionBlocks(rowBlock, stageBlock, StageInShared: true, TexelLoads: texelLoads, Lanes: AttentionBlocks.SplitLanes(headDim));
        if (!AttentionBlocks.SplitSupport(Context.Info, headDim, out string whyNot))
        {
            Assert.True(Context.Info.SubgroupSize < blocks.Lanes, whyNot);
            var error = Assert.Throws<ArgumentException>(() => RunFused(qkv, dOutput, batchCount, T, headCount, headDim, causal, blocks: blocks, inputs: inputs));
            Assert.StartsWith("attention: split rows cannot run here:", error.Message);
            return;
        }
        var gpu = RunFused(qkv, dOutput, batchCount, T, headCount, headDim, causal, blocks: blocks, inputs: inputs);
        float[] read = SixteenBitReference.Round(qkv, inputs);
        var (output, logSumExp) = AttentionReference.Forward(read, batchCount, T, headCount, headDim, causal);
        TestData.AssertClose(gpu.Output, output, OutputAtol, OutputRtol, "output");
        TestData.AssertClose(gpu.LogSumExp, logSumExp, OutputAtol, OutputRtol, "logSumExp");
        TestData.AssertClose(gpu.QkvGrad, AttentionReference.Backward(read, dOutput, batchCount, T, headCount, headDim, causal),
            GradAtol, GradRtol, "dQkv");
    }

    // A device that varies its subgroup size gets the split kernels' pipelines created at its reported size with full
    // subgroups (lavapipe has one size; a fresh context told to require it anyway takes that path). The results must be
    // the plain pipelines' bits, and the validation layer must accept the creation. The suite's cooperative-matrix emulation
    // layer, where loaded, requires a subgroup size of its own on these pipelines too (they use subgroup operations): the
    // validation layer above it then sees that struct twice, which is the one message allowed.
    [Fact]
    public void Split_rows_at_a_required_subgroup_size_give_the_same_bits()
    {
        const int batchCount = 1, T = 45, headCount = 3, headDim = 64;
        Assert.True(AttentionBlocks.SplitSupport(Context.Info, headDim, out string whyNot), whyNot);
        Assert.True(Context.Info.ComputeSubgroupSizeControl);
        float[] qkv = TestData.Normal(batchCount * T * 3 * headCount * headDim, seed: 91, std: InputStd);
        float[] dOutput = TestData.Normal(batchCount * T * headCount * headDim, seed: 92);
        var blocks = new AttentionBlocks(64, 16, StageInShared: true, Lanes: AttentionBlocks.SplitLanes(headDim));
        var plain = RunFused(qkv, dOutput, batchCount, T, headCount, headDim, causal: true, blocks: blocks);

        using GpuContext required = GpuContext.Create(TestEnvironment.DeviceSelector, validation: true);
        required.Kernels.RequireShuffleSubgroupSize = true;
        var pinned = RunFused(qkv, dOutput, batchCount, T, headCount, headDim, causal: true, blocks: blocks, context: required);
        Assert.Equal(plain.Output.Select(Bits), pinned.Output.Select(Bits));
        Assert.Equal(plain.LogSumExp.Select(Bits), pinned.LogSumExp.Select(Bits));
        Assert.Equal(plain.QkvGrad.Select(Bits), pinned.QkvGrad.Select(Bits));
        var messages = required.Validation!.Drain();
        static bool EmulationLayerDuplicate(string message) => message.Contains("VUID-VkPipelineShaderStageCreateInfo-sType-unique")
            && message.Contains("VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO appears multiple times");
        Assert.True(messages.All(EmulationLayerDuplicate), string.Join("\n", messages));
        TestData.AssertClose(pinned.Output, AttentionReference.Forward(qkv, batchCount, T, headCount, headDim, causal: true).Output,
            OutputAtol, OutputRtol, "output");
    }

    // The benchmark's baseline must compute the same function; its fp32 matmuls sum the same terms.
    [Theory, InlineData(true), InlineData(false)]
    public void Unfused_baseline_matches_the_double_reference(bool causal)
    {
        const int batchCount = 1, T = 65, headCount = 3, headDim = 32;
        float[] qkv = TestData.Normal(batchCount * T * 3 * headCount * headDim, seed: 51, std: InputStd);
        float[] dOutput = TestData.Normal(batchCount * T * headCount * headDim, seed: 52);
        using GpuBuffer qkvBuffer = Context.Upload<float>(qkv, "qkv"), outGrad = Context.Upload<float>(dOutput, "dOutput");
        using GpuBuffer output = Context.Allocate<float>(dOutput.Length, "output"), qkvGrad = Context.Allocate<float>(qkv.Length, "dQkv");
        long scoreFloats = UnfusedAttention.ScoresBytes(batchCount, T, headCount) / sizeof(float);
        using GpuBuffer scores = Context.Allocate<float>(scoreFloats, "scores"), scoreGrad = Context.Allocate<float>(scoreFloats, "dScores");
        Context.Execute(c =>
        {
            UnfusedAttention.Forward(c, qkvBuffer.Whole, output.Whole, scores.Whole, batchCount, T, headCount, headDim, causal);
            UnfusedAttention.Backward(c, qkvBuffer.Whole, scores.Whole, outGrad.Whole, qkvGrad.Whole, scoreGrad.Whole, batchCount, T, headCount, headDim);
        });
        TestData.AssertClose(Context.Download<float>(output), AttentionReference.Forward(qkv, batchCount, T, headCount, headDim, causal).Output,
            OutputAtol, OutputRtol, "unfused output");
        TestData.AssertClose(Context.Download<float>(qkvGrad), AttentionReference.Backward(qkv, dOutput, batchCount, T, headCount, headDim, causal),
            GradAtol, GradRtol, "unfused dQkv");
    }

    private static int Bits(float value) => BitConverter.SingleToInt32Bits(value);

    private (float[] Output, float[] LogSumExp, float[] QkvGrad) RunFused(float[] qkv, float[] dOutput, int batchCount, int T, int headCount,
        int headDim, bool causal, int repeats = 1, int maxBatchesPerDispatch = int.MaxValue,
        AttentionBlocks? blocks = null, int inputOffset = 0, Precision inputs = Precision.Fp32, GpuContext? context = null)
    {
        GpuContext gpu = context ?? Context;
        // inputOffset: qkv and dOutput start that many elements into their buffers. inputs: qkv's storage (16-bit: qkv
        // rounded to nearest even, as the graph's RoPE writes it).
        using GpuBuffer qkvBuffer = inputs == Precision.Fp32
            ? gpu.Upload<float>([.. new float[inputOffset], .. qkv], "qkv")
            : gpu.Upload<ushort>([.. new ushort[inputOffset], .. SixteenBitReference.Encode(qkv, inputs)], "qkv");
        using GpuBuffer outGrad = gpu.Upload<float>([.. new float[inputOffset], .. dOutput], "dOutput");
        BufferSlice qkvSlice = inputs == Precision.Fp32 ? qkvBuffer.Elements<float>(inputOffset, qkv.Length) : qkvBuffer.Elements<ushort>(inputOffset, qkv.Length);
        BufferSlice outGradSlice = outGrad.Elements<float>(inputOffset, dOutput.Length);
        using GpuBuffer output = gpu.Allocate<float>(dOutput.Length, "output"), qkvGrad = gpu.Allocate<float>(qkv.Length, "dQkv");
        using GpuBuffer logSumExp = gpu.Allocate<float>(batchCount * headCount * T, "logSumExp");
        using GpuBuffer scratch = gpu.Allocate<byte>(AttentionKernels.ScratchBytes(batchCount, T, headCount), "scratch");
        using CommandList commands = gpu.CreateCommandList();
        AttentionKernels.Forward(commands, qkvSlice, output.Whole, logSumExp.Whole, batchCount, T, headCount, headDim, causal,
            inputs, maxBatchesPerDispatch, blocks);
        AttentionKernels.Backward(commands, qkvSlice, output.Whole, logSumExp.Whole, outGradSlice, qkvGrad.Whole, scratch.Whole,
            batchCount, T, headCount, headDim, causal, inputs, maxBatchesPerDispatch, blocks);
        commands.End();
        for (int run = 0; run < repeats; run++) gpu.Run(commands);
        return (gpu.Download<float>(output), gpu.Download<float>(logSumExp), gpu.Download<float>(qkvGrad));
    }
}
