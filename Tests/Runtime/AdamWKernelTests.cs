using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

public sealed class AdamWKernelTests(GpuFixture fixture) : GpuTest(fixture)
{
    private static StepScalars Scalars(uint step, float learningRate = 2e-4f, float beta2 = 0.95f) => new()
    {
        OptimizerStep = step,
        LearningRate = learningRate,
        Beta1 = 0.9f,
        Beta2 = beta2,
        Epsilon = 1e-8f,
        WeightDecay = 0.1f,
        ClipNorm = 1f,
    };

    [Theory]
    [InlineData(1, true)]
    [InlineData(1031, true)]
    [InlineData(1031, false)]
    [InlineData(70001, true)]
    public void Three_steps_match_torch_adamw_in_double(int count, bool applyWeightDecay)
    {
        const float clipScale = 0.75f;
        float[] initial = TestData.Normal(count, seed: count, std: 0.5f);
        using var parameters = new GuardedBuffer(Context, count, "parameters");
        using var gradients = new GuardedBuffer(Context, count, "gradients");
        using var firstMoment = new GuardedBuffer(Context, count, "first-moment");
        using var secondMoment = new GuardedBuffer(Context, count, "second-moment");
        using GpuBuffer scalars = Context.Allocate<StepScalars>(1, "step-scalars", MemoryKind.HostVisible);
        using GpuBuffer normAndScale = Context.Upload<float>([2f, clipScale], "norm-and-scale");
        Context.Upload<float>(parameters.Data, initial);
        Context.Upload<float>(firstMoment.Data, new float[count]);
        Context.Upload<float>(secondMoment.Data, new float[count]);

        double[] expectedParameters = initial.Select(p => (double)p).ToArray();
        double[] expectedFirst = new double[count], expectedSecond = new double[count];
        // Recorded once and replayed, as a training step is: only the buffers' contents change.
        using CommandList commands = Context.CreateCommandList();
        AdamWKernels.Step(commands, parameters.Data, gradients.Data, firstMoment.Data, secondMoment.Data,
            scalars.Whole, normAndScale.Whole, count, applyWeightDecay);
        for (uint step = 1; step <= 3; step++)
        {
            float[] gradient = TestData.Normal(count, seed: 100 + (int)step, std: 0.1f);
            StepScalars stepScalars = Scalars(step);
            Context.Upload<float>(gradients.Data, gradient);
            Context.Upload<StepScalars>(scalars.Whole, [stepScalars]);
            Context.Run(commands);
            AdamWReference.Step(expectedParameters, gradient, expectedFirst, expectedSecond, stepScalars, clipScale, applyWeightDecay);
        }

        // m = m + 0.1 * (g - m): g - m and the product round relative to |g| + |m| <= 0.6 (scaled gradients
        // stay within 6 sigma = 0.45), i.e. 2 * 2^-24 * 0.06 ~ 1e-8 absolute per step, 3e-8 after three steps,
        // even where m cancels towards 0; v sums same-sign terms, so 8 ulps relative covers it.
        TestData.AssertClose(Context.Download<float>(firstMoment.Data), expectedFirst.Select(v => (float)v).ToArray(), 3e-8, 8 * Math.Pow(2, -24), "m");
        TestData.AssertClose(Context.Download<float>(secondMoment.Data), expectedSecond.Select(v => (float)v).ToArray(), 1e-12, 8 * Math.Pow(2, -24), "v");
        // Each step moves a parameter by at most ~lr * |m_hat / sqrt(v_hat)| (<= a few lr); fp32 gets that
        // update to ~1e-6 relative (m/denom with m, v, bias corrections each a few ulps off), so 3 steps
        // stay within 3 * 1e-5 * lr. The parameter itself takes three half-ulp roundings a step (the decay
        // factor 1 - lr*wd held in fp32, the product, the subtraction): 4.5 ulps over three steps, so 6.
        TestData.AssertClose(Context.Download<float>(parameters.Data), expectedParameters.Select(v => (float)v).ToArray(),
            3e-5 * 2e-4, 6 * Math.Pow(2, -24), "parameters");
        foreach (GuardedBuffer buffer in new[] { parameters, gradients, firstMoment, secondMoment }) buffer.AssertGuardsIntact();
    }

    [Theory]
    [InlineData(true, 0.99890000002)]
    [InlineData(false, 0.99900000002)]
    public void One_step_matches_the_value_worked_out_by_hand(bool applyWeightDecay, double expectedParameter)
    {
        // p = 1, raw gradient 1, clip scale 0.5 -> g = 0.5; lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-8, wd 0.1, t = 1.
        //   decay:  p = 1 * (1 - 1e-3 * 0.1)             = 0.9999      (without decay p stays 1)
        //   m = 0 + (1 - 0.9) * (0.5 - 0)                = 0.05
        //   v = 0.999 * 0 + 0.001 * 0.25                 = 0.00025  (but see below: 0.000249996782 in fp32 betas)
        //   denom = sqrt(0.00025) / sqrt(1 - 0.999) + 1e-8 = 0.5 + 1e-8
        //   p -= (1e-3 / (1 - 0.9)) * 0.05 / (0.5 + 1e-8) = 1e-3 * 0.99999998 = 0.00099999998
        //   p = 0.9999 - 0.00099999998 = 0.99890000002  (without decay: 0.99900000002)
        // fp32 holds these to half an ulp (3e-8 near 1). The step-scalar buffer stores betas as floats:
        // 0.999f = 0.99900001287, so 1 - beta2 = 0.00099998713 and v = 0.25 * that = 0.000249996782 (torch,
        // with Python-double betas, gets 0.00025); the bias correction divides the same factor out again,
        // so p moves by < 1e-9. Two ulps of p (1.2e-7) and a few ulps of m and v are the tolerances.
        using GpuBuffer parameters = Context.Upload<float>([1f], "parameters"), gradients = Context.Upload<float>([1f], "gradients");
        using GpuBuffer firstMoment = Context.Upload<float>([0f], "m"), secondMoment = Context.Upload<float>([0f], "v");
        using GpuBuffer scalars = Context.Upload<StepScalars>([Scalars(1, learningRate: 1e-3f, beta2: 0.999f)], "step-scalars");
        using GpuBuffer normAndScale = Context.Upload<float>([2f, 0.5f], "norm-and-scale");
        Context.Execute(c => AdamWKernels.Step(c, parameters.Whole, gradients.Whole, firstMoment.Whole, secondMoment.Whole,
            scalars.Whole, normAndScale.Whole, 1, applyWeightDecay));
        Assert.InRange(Context.Download<float>(parameters)[0], expectedParameter - 1.2e-7, expectedParameter + 1.2e-7);
        Assert.InRange(Context.Download<float>(firstMoment)[0], 0.05 * (1 - 1e-6), 0.05 * (1 + 1e-6));
        double expectedSecond = 0.25 * (1 - (double)0.999f);
        Assert.InRange(Context.Download<float>(secondMoment)[0], expectedSecond * (1 - 1e-6), expectedSecond * (1 + 1e-6));
    }

    [Fact]
    public void Chunks_change_no_bit_and_respect_the_binding_limit()
    {
        // 1031 elements in chunks of 256 (5 dispatches) against one dispatch: elementwise, so bit-identical, the bf16
        // copy included (its chunks start 512 bytes apart).
        const int count = 1031;
        float[] initial = TestData.Normal(count, seed: 8), gradient = TestData.Normal(count, seed: 9);
        int[] Run(int elementsPerChunk, int expectedDispatches)
        {
            using GpuBuffer parameters = Context.Upload<float>(initial, "parameters"), gradients = Context.Upload<float>(gradient, "gradients");
            using GpuBuffer firstMoment = Context.Upload<float>(new float[count], "m"), secondMoment = Context.Upload<float>(new float[count], "v");
            using GpuBuffer scalars = Context.Upload<StepScalars>([Scalars(1)], "step-scalars");
            using GpuBuffer normAndScale = Context.Upload<float>([1f, 0.5f], "norm-and-scale");
            using GpuBuffer copy = Context.Allocate<ushort>(count + 1, "bf16 copy");
            using CommandList commands = Context.CreateCommandList();
            AdamWKernels.Step(commands, parameters.Whole, gradients.Whole, firstMoment.Whole, secondMoment.Whole, scalars.Whole, normAndScale.Whole,
                count, true, (copy.Slice(0, 2 * count), Precision.Bf16), elementsPerChunk);
            Assert.Equal(expectedDispatches, commands.DispatchCount);
            Context.Run(commands);
            return [.. Context.Download<int>(parameters), .. Context.Download<int>(firstMoment), .. Context.Download<int>(secondMoment),
                .. Context.Download<ushort>(copy).Take(count).Select(bits => (int)bits)];
        }
        Assert.Equal(Run(1 << 20, 1), Run(256, 5));
        // lavapipe's 128 MiB binding holds 33554432 floats: a 50304 x 768 embedding (38633472) takes two chunks.
        Assert.Equal(33554432, AdamWKernels.MaxElementsPerChunk(Context.Info with { MaxStorageBufferRange = 128UL << 20 }));
        // Rounded down to 128 floats, so that the 16-bit copy's chunks start 256-byte aligned too.
        Assert.Equal(1073741696, AdamWKernels.MaxElementsPerChunk(Context.Info with { MaxStorageBufferRange = uint.MaxValue }));
    }

    [Theory]
    [InlineData(Precision.Fp16)]
    [InlineData(Precision.Bf16)]
    public void The_16_bit_copy_is_the_updated_parameter_rounded_and_a_skipped_step_keeps_both(Precision format)
    {
        // Parameters spread over fp16's range edges (tiny and large values) so that rounding, subnormals and ties all occur.
        const int count = 3001;
        float[] initial = TestData.Normal(count, seed: 21, std: 2f).Select((v, i) => v * MathF.Pow(2, i % 7 - 3)).ToArray();
        float[] gradient = TestData.Normal(count, seed: 22, std: 0.1f);
        using GpuBuffer parameters = Context.Upload<float>(initial, "parameters"), gradients = Context.Upload<float>(gradient, "gradients");
        using GpuBuffer firstMoment = Context.Upload<float>(new float[count], "m"), secondMoment = Context.Upload<float>(new float[count], "v");
        using GpuBuffer scalars = Context.Upload<StepScalars>([Scalars(1, learningRate: 1e-2f)], "step-scalars");
        using GpuBuffer normAndScale = Context.Upload<float>([1f, 1f], "norm-and-scale");
        using var copy = new GuardedBuffer(Context, (count + 1) / 2, "copy");
        using CommandList commands = Context.CreateCommandList();
        AdamWKernels.Step(commands, parameters.Whole, gradients.Whole, firstMoment.Whole, secondMoment.Whole, scalars.Whole, normAndScale.Whole,
            count, true, (copy.Data.Slice(0, 2 * count), format));

        Context.Run(commands);
        float[] updated = Context.Download<float>(parameters);
        Assert.NotEqual(initial, updated);
        ushort[] expected = SixteenBitReference.Encode(updated, format);
        Assert.Equal(expected, Context.Download<ushort>(copy.Data).Take(count));

        // A non-finite norm (fp16 overflow under the loss scale) skips the step: weights and copy stay as they were.
        Context.Upload<float>(normAndScale.Whole, [float.PositiveInfinity, 1f]);
        Context.Run(commands);
        Assert.Equal(updated, Context.Download<float>(parameters));
        Assert.Equal(expected, Context.Download<ushort>(copy.Data).Take(count));
        copy.AssertGuardsIntact();
    }

    [Fact]
    public void Reruns_are_bit_identical()
    {
        const int count = 4099;
        float[] initial = TestData.Normal(count, seed: 3), gradient = TestData.Normal(count, seed: 4);
        int[] RunTwoSteps()
        {
            using GpuBuffer parameters = Context.Upload<float>(initial, "parameters"), gradients = Context.Upload<float>(gradient, "gradients");
            using GpuBuffer firstMoment = Context.Allocate<float>(count, "m"), secondMoment = Context.Allocate<float>(count, "v");
            using GpuBuffer scalars = Context.Allocate<StepScalars>(1, "step-scalars", MemoryKind.HostVisible);
            using GpuBuffer normAndScale = Context.Upload<float>([1f, 1f], "norm-and-scale");
            Context.Execute(c =>
            {
                BasicKernels.Fill(c, firstMoment.Whole, 0f);
                BasicKernels.Fill(c, secondMoment.Whole, 0f);
            });
            using CommandList commands = Context.CreateCommandList();
            AdamWKernels.Step(commands, parameters.Whole, gradients.Whole, firstMoment.Whole, secondMoment.Whole, scalars.Whole, normAndScale.Whole, count, true);
            for (uint step = 1; step <= 2; step++)
            {
                Context.Upload<StepScalars>(scalars.Whole, [Scalars(step)]);
                Context.Run(commands);
            }
            return Context.Download<int>(parameters);
        }
        Assert.Equal(RunTwoSteps(), RunTwoSteps());
    }
}
