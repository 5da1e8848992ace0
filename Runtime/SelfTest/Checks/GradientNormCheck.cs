using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.SelfTest.Checks;

/// <summary>
/// <see cref="GradientNormKernels"/> over tensors of odd and aligned lengths, against the double norm,
/// with clipping off, below and above the threshold. Relative errors of the norm and of the clip scale;
/// tolerance (longest per-lane run, at least 128 on CPU devices, + tree depths + tensors + 4) * 2^-24
/// (recursive summation).
/// </summary>
internal sealed class GradientNormCheck : ISelfTestCheck
{
    private static readonly int[] Lengths = [1, 7, 256, 1000, 65536, 200_003];

    public string Name => "grad_norm";

    public IEnumerable<SelfTestResult> Run(GpuContext context)
    {
        float[][] gradients = Lengths.Select((length, i) => SelfTestMeasure.Normal(length, seed: 10 + i, std: 0.01f * (i + 1))).ToArray();
        double norm = GradientNormReference.Norm(gradients);
        double tolerance = (Math.Max(Math.Ceiling(Lengths.Max() / 65536.0), 128) + 2 * 8 + Lengths.Length + 4) * Math.Pow(2, -24);
        foreach (var (clipNorm, label) in new[] { (0.0, "clipping off"), (norm * 2, "norm below clip"), (norm / 4, "norm above clip") })
        {
            float[] result = Compute(context, gradients, (float)clipNorm);
            string shape = $"{Lengths.Length} tensors, {label}";
            yield return new SelfTestResult(Name, $"norm, {shape}", Math.Abs(result[0] - norm) / norm, tolerance);
            double expectedScale = GradientNormReference.ClipScale(norm, (float)clipNorm);
            yield return new SelfTestResult(Name, $"clip scale, {shape}", Math.Abs(result[1] - expectedScale) / expectedScale, tolerance + Math.Pow(2, -22));
        }
    }

    private static float[] Compute(GpuContext context, float[][] gradients, float clipNorm)
    {
        var buffers = gradients.Select((gradient, i) => context.Upload<float>(gradient, $"selftest-gradient-{i}")).ToList();
        try
        {
            var slices = buffers.Select((buffer, i) => buffer.Elements<float>(0, gradients[i].Length)).ToList();
            using GpuBuffer partials = context.Memory.Allocate(GradientNormKernels.PartialsBytes(slices.Count), "selftest-partials");
            using GpuBuffer scalars = context.Upload<StepScalars>([new StepScalars { ClipNorm = clipNorm }], "selftest-step-scalars");
            using GpuBuffer normAndScale = context.Allocate<float>(2, "selftest-norm-and-scale");
            context.Execute(c => GradientNormKernels.Compute(c, slices, partials.Whole, scalars.Whole, normAndScale.Whole));
            return context.Download<float>(normAndScale);
        }
        finally
        {
            foreach (GpuBuffer buffer in buffers) buffer.Dispose();
        }
    }
}
