using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.SelfTest.Checks;

/// <summary>
/// <see cref="RopeKernels"/> forward and backward (in place on fused QKV) against <see cref="RopeReference"/>
/// at head dims 16, 32, 64 and 128, positions 0, 2047 (the paper's largest at L = 2048) and random ones between.
/// Normwise relative error; tolerance: the bound of Tests/Runtime/RopeTests, |pair| (angle 2^-19 + 1e-6) per
/// rotated element (the GPU's inv_freq = exp2(i * step) is good to ~2^-19 relative under Vulkan's exp2
/// precision, so the angle, up to 2047 rad, may drift by angle 2^-19; 1e-6 for sine, cosine and roundings),
/// as the largest bound over max|reference|. Bit-exact case: the V columns (both directions) and the
/// position-0 token (rotation by zero, forward) keep their bits; error = mismatched elements, tolerance 0.
/// </summary>
internal sealed class RopeCheck : ISelfTestCheck
{
    // (tokens, heads, head dim)
    private static readonly (int Tokens, int Heads, int HeadDim)[] Shapes = [(1, 1, 16), (7, 3, 32), (33, 2, 64), (33, 3, 128), (64, 1, 128)];

    public string Name => "rope";

    public IEnumerable<SelfTestResult> Run(GpuContext context)
    {
        foreach (var (tokenCount, headCount, headDim) in Shapes)
            foreach (SelfTestResult result in RunCase(context, tokenCount, headCount, headDim)) yield return result;
    }

    private IEnumerable<SelfTestResult> RunCase(GpuContext context, int tokenCount, int headCount, int headDim)
    {
        float[] qkv = SelfTestMeasure.Normal(tokenCount * 3 * headCount * headDim, seed: headDim + tokenCount);
        var random = new Random(tokenCount);
        uint[] positions = Enumerable.Range(0, tokenCount).Select(t => t == 0 ? 0u : t == 1 ? 2047u : (uint)random.Next(2048)).ToArray();
        using GpuBuffer positionBuffer = context.Upload<uint>(positions, "selftest-positions");
        using GpuBuffer forward = context.Upload<float>(qkv, "selftest-qkv"), backward = context.Upload<float>(qkv, "selftest-dqkv");
        context.Execute(c =>
        {
            RopeKernels.Forward(c, forward.Whole, positionBuffer.Whole, tokenCount, headCount, headDim);
            RopeKernels.Backward(c, backward.Whole, positionBuffer.Whole, tokenCount, headCount, headDim);
        });
        float[] rotated = context.Download<float>(forward), unrotated = context.Download<float>(backward);

        double[] input = SelfTestMeasure.ToDouble(qkv);
        double[] bound = Bounds(input, positions, headCount, headDim);
        double[] expectedForward = RopeReference.Forward(input, positions, tokenCount, headCount, headDim);
        double[] expectedBackward = RopeReference.Backward(input, positions, tokenCount, headCount, headDim);
        string shape = $"tokens={tokenCount} heads={headCount} head_dim={headDim}";
        yield return new SelfTestResult(Name, $"forward {shape}", SelfTestMeasure.NormwiseRelativeError(rotated, expectedForward),
            SelfTestMeasure.NormwiseTolerance(bound, expectedForward));
        yield return new SelfTestResult(Name, $"backward {shape}", SelfTestMeasure.NormwiseRelativeError(unrotated, expectedBackward),
            SelfTestMeasure.NormwiseTolerance(bound, expectedBackward));

        int width = 3 * headCount * headDim, rotatedWidth = 2 * headCount * headDim;
        int mismatches = SelfTestMeasure.BitMismatches(rotated.AsSpan(0, width), qkv.AsSpan(0, width));
        for (int t = 0; t < tokenCount; t++)
        {
            int v = t * width + rotatedWidth, vWidth = width - rotatedWidth;
            mismatches += SelfTestMeasure.BitMismatches(rotated.AsSpan(v, vWidth), qkv.AsSpan(v, vWidth));
            mismatches += SelfTestMeasure.BitMismatches(unrotated.AsSpan(v, vWidth), qkv.AsSpan(v, vWidth));
        }
        yield return new SelfTestResult(Name, $"V and position 0 untouched {shape} (mismatched elements)", mismatches, 0);
    }

    // |pair| (position inv_freq 2^-19 + 1e-6) for Q and K elements, 0 for V.
    private static double[] Bounds(double[] input, uint[] positions, int headCount, int headDim)
    {
        int half = headDim / 2, width = 3 * headCount * headDim;
        var bound = new double[input.Length];
        for (int i = 0; i < input.Length; i++)
        {
            int t = i / width, within = i % width, pairIndex = within % headDim % half;
            if (within >= 2 * headCount * headDim) continue;
            int a = i - within % headDim + pairIndex, b = a + half;
            double magnitude = Math.Sqrt(input[a] * input[a] + input[b] * input[b]);
            double angle = positions[t] * Math.Pow(10000, -2.0 * pairIndex / headDim);
            bound[i] = magnitude * (angle * Math.Pow(2, -19) + 1e-6);
        }
        return bound;
    }
}
