using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

public sealed class GradientNormKernelTests(GpuFixture fixture) : GpuTest(fixture)
{
    // Odd lengths: a lone element, sub-workgroup tensors, and one long enough that every one of its 256
    // partial-sum workgroups walks several grid strides.
    private static readonly int[] Lengths = [1, 7, 33, 127, 1000, 3 * 65536 + 5];

    private sealed class Problem : IDisposable
    {
        public required float[][] Gradients { get; init; }
        public required GpuBuffer Storage { get; init; }
        public required List<BufferSlice> Slices { get; init; }
        public required GpuBuffer Partials { get; init; }
        public required GpuBuffer Scalars { get; init; }
        public required GuardedBuffer NormAndScale { get; init; }

        public void Dispose()
        {
            Storage.Dispose();
            Partials.Dispose();
            Scalars.Dispose();
            NormAndScale.Dispose();
        }
    }

    /// <summary>All gradients in one buffer, each at a 256-byte-aligned offset, as a model's gradient arena would hold them.</summary>
    private Problem Create(float clipNorm, int seed = 1)
    {
        float[][] gradients = Lengths.Select((length, i) => TestData.Normal(length, seed + i, std: 0.01f * (i + 1))).ToArray();
        long offset = 0;
        var offsets = new List<long>();
        foreach (float[] gradient in gradients)
        {
            offsets.Add(offset);
            offset += (gradient.Length + 63) / 64 * 64;
        }
        GpuBuffer storage = Context.Allocate<float>(offset, "gradients");
        var slices = new List<BufferSlice>();
        for (int i = 0; i < gradients.Length; i++)
        {
            slices.Add(storage.Elements<float>(offsets[i], gradients[i].Length));
            Context.Upload<float>(slices[i], gradients[i]);
        }
        GpuBuffer partials = Context.Memory.Allocate(GradientNormKernels.PartialsBytes(slices.Count), "partials");
        GpuBuffer scalars = Context.Allocate<StepScalars>(1, "step-scalars", MemoryKind.HostVisible);
        Context.Upload<StepScalars>(scalars.Whole, [new StepScalars { ClipNorm = clipNorm }]);
        return new Problem
        {
            Gradients = gradients, Storage = storage, Slices = slices, Partials = partials, Scalars = scalars,
            NormAndScale = new GuardedBuffer(Context, 2, "norm-and-scale"),
        };
    }

    private float[] Run(Problem problem)
    {
        Context.Execute(c => GradientNormKernels.Compute(c, problem.Slices, problem.Partials.Whole, problem.Scalars.Whole, problem.NormAndScale.Data));
        problem.NormAndScale.AssertGuardsIntact();
        return Context.Download<float>(problem.NormAndScale.Data);
    }

    /// <summary>
    /// Relative bound on the norm: each square rounds once; each lane adds in sequence at most
    /// ceil(n / (256 groups * 256 lanes)) squares, or the device's minimum run (128 on CPU devices),
    /// whichever is larger; then the workgroup tree (8 levels), the final pass's lanes over the tensors'
    /// blocks (one partial per tensor each) and its tree (8 levels). sqrt halves the relative error of
    /// the sum; we keep the full bound.
    /// </summary>
    private static double NormTolerance() =>
        (1 + Math.Max(Math.Ceiling(Lengths.Max() / 65536.0), 128) + 2 * 8 + Lengths.Length + 2) * Math.Pow(2, -24);

    [Fact]
    public void Small_tensors_take_few_workgroups_and_big_ones_all_256()
    {
        DeviceInfo gpu = DeviceKinds.Gpu(Context.Info), cpu = Context.Info;
        Assert.Equal(1u, GradientNormKernels.Groups(1, gpu));
        Assert.Equal(1u, GradientNormKernels.Groups(4096, gpu));
        Assert.Equal(2u, GradientNormKernels.Groups(4097, gpu));
        Assert.Equal(1u, GradientNormKernels.Groups(32768, cpu));
        Assert.Equal(256u, GradientNormKernels.Groups(50_000_000, gpu));
        Assert.Equal(256u, GradientNormKernels.Groups(50_000_000, cpu));
    }

    [Fact]
    public void Norm_over_tensors_of_odd_lengths_matches_the_double_reference()
    {
        using Problem problem = Create(clipNorm: 0f);
        float[] result = Run(problem);
        double expected = GradientNormReference.Norm(problem.Gradients);
        Assert.InRange(result[0], expected * (1 - NormTolerance()), expected * (1 + NormTolerance()));
        Assert.Equal(1f, result[1]);  // clip_norm 0 disables clipping
    }

    [Fact]
    public void A_norm_above_the_threshold_is_scaled_down_to_it()
    {
        double norm = RunUnclipped();
        float clipNorm = (float)(norm / 3);
        using Problem problem = Create(clipNorm);
        float[] result = Run(problem);
        // scale = clip / (norm + 1e-6): the norm's relative error plus two roundings (the division and the sum).
        double expected = GradientNormReference.ClipScale(norm, clipNorm);
        Assert.InRange(result[1], expected * (1 - NormTolerance() - Math.Pow(2, -22)), expected * (1 + NormTolerance() + Math.Pow(2, -22)));
        Assert.True(result[1] < 0.34f);
    }

    [Fact]
    public void A_norm_below_the_threshold_is_left_alone()
    {
        double norm = RunUnclipped();
        using Problem problem = Create(clipNorm: (float)(norm * 1.5));
        Assert.Equal(1f, Run(problem)[1]);
    }

    [Fact]
    public void A_single_tensor_of_one_element_has_its_absolute_value_as_norm()
    {
        // Closed form: the norm of [-3] is 3, exactly, and clip 1 gives 1 / (3 + 1e-6).
        using GpuBuffer gradient = Context.Upload<float>([-3f], "gradient");
        using GpuBuffer partials = Context.Memory.Allocate(GradientNormKernels.PartialsBytes(1), "partials");
        using GpuBuffer scalars = Context.Upload<StepScalars>([new StepScalars { ClipNorm = 1f }], "step-scalars");
        using GpuBuffer normAndScale = Context.Allocate<float>(2, "norm-and-scale");
        Context.Execute(c => GradientNormKernels.Compute(c, [gradient.Elements<float>(0, 1)], partials.Whole, scalars.Whole, normAndScale.Whole));
        float[] result = Context.Download<float>(normAndScale);
        Assert.Equal(3f, result[0]);
        Assert.Equal((float)(1 / (3 + 1e-6)), result[1]);
    }

    [Fact]
    public void Reruns_are_bit_identical()
    {
        using Problem problem = Create(clipNorm: 0.01f, seed: 7);
        using CommandList commands = Context.CreateCommandList();
        GradientNormKernels.Compute(commands, problem.Slices, problem.Partials.Whole, problem.Scalars.Whole, problem.NormAndScale.Data);
        Context.Run(commands);
        int[] first = Context.Download<int>(problem.NormAndScale.Data);
        for (int run = 0; run < 3; run++)
        {
            Context.Run(commands);
            Assert.Equal(first, Context.Download<int>(problem.NormAndScale.Data));
        }
    }

    private double RunUnclipped()
    {
        using Problem problem = Create(clipNorm: 0f);
        return GradientNormReference.Norm(problem.Gradients);
    }
}
