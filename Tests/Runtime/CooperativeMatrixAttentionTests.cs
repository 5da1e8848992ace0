using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

// The cooperative-matrix attention kernels through ../shared/coopmat-layer on lavapipe (8x8x8 tiles at the suite's
// subgroup 8), against the double reference. Every element must lie within AttentionHalfPrecisionBound's bound
// (fp16 rounding of every product operand and of each product, fp32 elsewhere), and some element must be further
// from the reference than the fp32 kernels ever are, so the test knows the fp16 path ran.
[Trait("Category", "CooperativeMatrix")]
public sealed class CooperativeMatrixAttentionTests(GpuFixture fixture) : GpuTest(fixture)
{
    private const float InputStd = 1.5f;
    // The fp32 kernels stay within ~1e-5 relative of the reference on these shapes (AttentionTests' tolerances are 10x that).
    private const double Fp32RelativeError = 1e-5;

    // (T, head dim, batch, heads, causal): every head dim the presets use, both masks, ragged lengths that are not
    // multiples of the 16-row workgroup or the 32-key block, and one length below a single tile.
    [Theory]
    [InlineData(77, 16, 2, 1, true)]
    [InlineData(40, 32, 1, 3, false)]
    [InlineData(45, 64, 1, 2, true)]
    [InlineData(5, 32, 1, 1, false)]
    public void Forward_and_backward_lie_within_the_fp16_bound_of_the_reference(int T, int headDim, int batchCount, int headCount, bool causal)
    {
        Assert.Equal((8u, 8u, 8u), AttentionKernels.CooperativeMatrixBlocks(Context, headDim, out _)?.CooperativeMatrixTile);
        float[] qkv = TestData.Normal(batchCount * T * 3 * headCount * headDim, seed: T * 7 + headDim, std: InputStd);
        float[] dOutput = TestData.Normal(batchCount * T * headCount * headDim, seed: T + 1);
        var gpu = Run(qkv, dOutput, batchCount, T, headCount, headDim, causal);

        double[] qkvd = Array.ConvertAll(qkv, v => (double)v), dOutputd = Array.ConvertAll(dOutput, v => (double)v);
        var (output, logSumExp) = AttentionReference.Forward(qkvd, batchCount, T, headCount, headDim, causal);
        double[] qkvGrad = AttentionReference.Backward(qkvd, dOutputd, batchCount, T, headCount, headDim, causal);
        var bounds = AttentionHalfPrecisionBound.Compute(qkvd, dOutputd, batchCount, T, headCount, headDim, causal);
        AssertWithin(gpu.Output, output, bounds.Output, "output");
        AssertWithin(gpu.LogSumExp, logSumExp, bounds.LogSumExp, "logsumexp");
        AssertWithin(gpu.QkvGrad, qkvGrad, bounds.QkvGrad, "dQkv");
        Assert.True(MaxRelativeError(gpu.QkvGrad, qkvGrad) > Fp32RelativeError, "dQkv matches the reference to fp32 precision: the fp16 path did not run");
    }

    // fp16 qkv is staged as stored: on inputs that are already fp16 values, the kernels give the bits they give on the
    // same values in fp32 (whose staging rounds to nearest even, a no-op there), and lie within the fp16 bound of the
    // reference on those values. Ragged T, both masks.
    [Theory]
    [InlineData(77, 16, 2, 1, true)]
    [InlineData(40, 32, 1, 3, false)]
    public void Fp16_inputs_give_the_bits_of_their_fp32_values_within_the_fp16_bound(int T, int headDim, int batchCount, int headCount, bool causal)
    {
        float[] qkv = SixteenBitReference.Round(TestData.Normal(batchCount * T * 3 * headCount * headDim, seed: T * 3 + headDim, std: InputStd),
            Precision.Fp16);
        float[] dOutput = TestData.Normal(batchCount * T * headCount * headDim, seed: T + 3);
        var fromFp16 = Run(qkv, dOutput, batchCount, T, headCount, headDim, causal, Precision.Fp16);
        var fromFp32 = Run(qkv, dOutput, batchCount, T, headCount, headDim, causal, Precision.Fp32);
        Assert.Equal(fromFp32.Output, fromFp16.Output);
        Assert.Equal(fromFp32.LogSumExp, fromFp16.LogSumExp);
        Assert.Equal(fromFp32.QkvGrad, fromFp16.QkvGrad);

        double[] qkvd = Array.ConvertAll(qkv, v => (double)v), dOutputd = Array.ConvertAll(dOutput, v => (double)v);
        var (output, logSumExp) = AttentionReference.Forward(qkvd, batchCount, T, headCount, headDim, causal);
        var bounds = AttentionHalfPrecisionBound.Compute(qkvd, dOutputd, batchCount, T, headCount, headDim, causal);
        AssertWithin(fromFp16.Output, output, bounds.Output, "output");
        AssertWithin(fromFp16.LogSumExp, logSumExp, bounds.LogSumExp, "logsumexp");
        AssertWithin(fromFp16.QkvGrad, AttentionReference.Backward(qkvd, dOutputd, batchCount, T, headCount, headDim, causal), bounds.QkvGrad, "dQkv");
    }

    // The cooperative-matrix kernels take fp16 alone: under VKDIFF_ATTENTION=coopmat, bf16 qkv runs the fp32 path's
    // storage-buffer kernels (fp32 arithmetic: the reference on the rounded inputs within the fp32 bounds), which is the
    // format the graph is told to feed.
    [Fact]
    public void Bf16_inputs_on_the_cooperative_matrix_switch_run_the_storage_buffer_kernels()
    {
        const int T = 33, headDim = 32, batchCount = 1, headCount = 2;
        float[] qkv = TestData.Normal(batchCount * T * 3 * headCount * headDim, seed: 91, std: InputStd);
        float[] dOutput = TestData.Normal(batchCount * T * headCount * headDim, seed: 92);
        var gpu = Run(qkv, dOutput, batchCount, T, headCount, headDim, causal: true, Precision.Bf16);
        float[] rounded = SixteenBitReference.Round(qkv, Precision.Bf16);
        TestData.AssertClose(gpu.Output, AttentionReference.Forward(rounded, batchCount, T, headCount, headDim, causal: true).Output, 2e-4, 1e-4, "output");
        TestData.AssertClose(gpu.QkvGrad, AttentionReference.Backward(rounded, dOutput, batchCount, T, headCount, headDim, causal: true), 2e-3, 1e-3, "dQkv");
        using (AttentionKernels.Override(AttentionPath.CooperativeMatrix))
        {
            Assert.Equal(Precision.Bf16, AttentionKernels.InputPrecision(Context.Info, headDim, Precision.Bf16));
            Assert.Equal(Precision.Fp16, AttentionKernels.InputPrecision(Context.Info, headDim, Precision.Fp16));
            Assert.Equal(Precision.Fp32, AttentionKernels.InputPrecision(Context.Info, headDim, Precision.Fp32));
        }
    }

    [Fact]
    public void The_switch_selects_the_path_and_rejects_unknown_values()
    {
        Assert.Equal(AttentionPath.CooperativeMatrix, PathUnder("coopmat"));
        Assert.Equal(AttentionPath.Fp32, PathUnder(null));
        Assert.Equal(AttentionPath.Fp32, PathUnder("fp32"));
        var error = Assert.Throws<InvalidInputException>(() => PathUnder("tensor"));
        Assert.Equal("VKDIFF_ATTENTION=tensor is not an attention path; use fp32 or coopmat.", error.Message);
    }

    // GPU tests run one at a time (one collection), so a process-wide variable is safe to flip here.
    private static AttentionPath PathUnder(string? value)
    {
        string? previous = Environment.GetEnvironmentVariable(AttentionKernels.PathVariable);
        Environment.SetEnvironmentVariable(AttentionKernels.PathVariable, value);
        try
        {
            return AttentionKernels.ChoosePath();
        }
        finally
        {
            Environment.SetEnvironmentVariable(AttentionKernels.PathVariable, previous);
        }
    }

    // At LP_NATIVE_VECTOR_WIDTH=512 the subgroup is 16 and the layer offers 16x16x16 (the width is read when the driver
    // loads, hence a child process): the attention self-test with the cooperative-matrix path as the device path.
    [Fact]
    public void The_16x16x16_kernels_pass_the_attention_self_test_at_subgroup_16()
    {
        string output = SelfTestAtSubgroup16.RunCooperativeMatrix(AttentionKernels.PathVariable, "attention");
        Assert.Contains("(coopmat 16x16x16)", output);
    }

    private static void AssertWithin(float[] actual, double[] expected, double[] bound, string what)
    {
        double worst = 0;
        int worstAt = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double ratio = Math.Abs(actual[i] - expected[i]) / bound[i];
            if (ratio > worst) (worst, worstAt) = (ratio, i);
        }
        Assert.True(worst <= 1, $"{what}[{worstAt}] = {actual[worstAt]}, reference {expected[worstAt]}: {worst:F2}x the fp16 bound {bound[worstAt]:E2}");
    }

    private static double MaxRelativeError(float[] actual, double[] expected)
    {
        double scale = expected.Max(Math.Abs), worst = 0;
        for (int i = 0; i < actual.Length; i++) worst = Math.Max(worst, Math.Abs(actual[i] - expected[i]) / scale);
        return worst;
    }

    // inputs: qkv's storage (16-bit: qkv rounded to nearest even).
    private (float[] Output, float[] LogSumExp, float[] QkvGrad) Run(float[] qkv, float[] dOutput, int batchCount, int T, int headCount,
        int headDim, bool causal, Precision inputs = Precision.Fp32)
    {
        using GpuBuffer qkvBuffer = inputs == Precision.Fp32 ? Context.Upload<float>(qkv, "qkv")
            : Context.Upload<ushort>(SixteenBitReference.Encode(qkv, inputs), "qkv");
        using GpuBuffer outGrad = Context.Upload<float>(dOutput, "dOutput");
        using GpuBuffer output = Context.Allocate<float>(dOutput.Length, "output"), qkvGrad = Context.Allocate<float>(qkv.Length, "dQkv");
        using GpuBuffer logSumExp = Context.Allocate<float>(batchCount * headCount * T, "logSumExp");
        using GpuBuffer scratch = Context.Allocate<byte>(AttentionKernels.ScratchBytes(batchCount, T, headCount), "scratch");
        using (AttentionKernels.Override(AttentionPath.CooperativeMatrix))
            Context.Execute(c =>
            {
                AttentionKernels.Forward(c, qkvBuffer.Whole, output.Whole, logSumExp.Whole, batchCount, T, headCount, headDim, causal, inputs);
                AttentionKernels.Backward(c, qkvBuffer.Whole, output.Whole, logSumExp.Whole, outGrad.Whole, qkvGrad.Whole, scratch.Whole,
                    batchCount, T, headCount, headDim, causal, inputs);
            });
        return (Context.Download<float>(output), Context.Download<float>(logSumExp), Context.Download<float>(qkvGrad));
    }
}
