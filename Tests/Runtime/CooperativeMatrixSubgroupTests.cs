using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

public sealed class CooperativeMatrixSubgroupTests(GpuFixture fixture) : GpuTest(fixture)
{
    [Fact]
    public void A_device_with_one_subgroup_size_needs_no_requirement()
    {
        DeviceInfo device = Context.Info with { SubgroupSize = 32, MinSubgroupSize = 32, MaxSubgroupSize = 32, ComputeSubgroupSizeControl = false };
        Assert.Equal(new CooperativeMatrixSubgroup(32, Required: false), CooperativeMatrixSubgroup.For(device, out _));
    }

    // AMD RDNA: wave64 reported, 32-64 possible. With size control the kernels run at the reported size, required.
    [Fact]
    public void A_device_that_varies_its_size_gets_its_reported_size_required_where_it_can_fix_it()
    {
        DeviceInfo device = Context.Info with { SubgroupSize = 64, MinSubgroupSize = 32, MaxSubgroupSize = 64, ComputeSubgroupSizeControl = true };
        Assert.Equal(new CooperativeMatrixSubgroup(64, Required: true), CooperativeMatrixSubgroup.For(device, out _));
    }

    [Fact]
    public void A_device_that_varies_its_size_and_cannot_fix_it_is_refused_with_the_reason()
    {
        DeviceInfo device = Context.Info with
        {
            Name = "Radeon", SubgroupSize = 64, MinSubgroupSize = 32, MaxSubgroupSize = 64, ComputeSubgroupSizeControl = false,
        };
        Assert.Null(CooperativeMatrixSubgroup.For(device, out string whyNot));
        Assert.Equal("Radeon varies its subgroup size (32-64) and cannot fix it for compute pipelines (no subgroupSizeControl with computeFullSubgroups)",
            whyNot);
    }

    // lavapipe has one subgroup size, so it never needs the requirement; a fresh context told to require it anyway creates
    // the cooperative-matrix pipelines with VkPipelineShaderStageRequiredSubgroupSizeCreateInfo and full subgroups, and
    // they must compute exactly what the plain pipelines compute.
    [Fact, Trait("Category", "CooperativeMatrix")]
    public void Pipelines_created_at_a_required_subgroup_size_give_the_same_results()
    {
        Assert.True(Context.Info.ComputeSubgroupSizeControl);
        const int rows = 37, inFeatures = 45, outFeatures = 29, T = 19, heads = 2, headDim = 16;
        float[] x = TestData.Uniform(rows * inFeatures, seed: 3), w = TestData.Uniform(outFeatures * inFeatures, seed: 4);
        float[] qkv = TestData.Normal(T * 3 * heads * headDim, seed: 5, std: 1.5f), dOutput = TestData.Normal(T * heads * headDim, seed: 6);
        float[][] plain = Run(Context, x, w, qkv, dOutput, rows, inFeatures, outFeatures, T, heads, headDim);

        using GpuContext required = GpuContext.Create(TestEnvironment.DeviceSelector, validation: true);
        required.Kernels.RequireCooperativeMatrixSubgroupSize = true;
        float[][] withRequiredSize = Run(required, x, w, qkv, dOutput, rows, inFeatures, outFeatures, T, heads, headDim);
        for (int i = 0; i < plain.Length; i++) Assert.Equal(plain[i], withRequiredSize[i]);
        // The emulation layer requires a subgroup size of its own on every cooperative-matrix pipeline it lowers, so the
        // validation layer (above it) sees that struct twice: the sign that ours was chained. Any other message is an error.
        var messages = required.Validation!.Drain();
        static bool Duplicate(string message) => message.Contains("VUID-VkPipelineShaderStageCreateInfo-sType-unique")
            && message.Contains("VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO appears multiple times");
        Assert.Contains(messages, Duplicate);
        Assert.True(messages.All(Duplicate), string.Join("\n", messages));
    }

    private static float[][] Run(GpuContext context, float[] x, float[] w, float[] qkv, float[] dOutput, int rows, int inFeatures, int outFeatures,
        int T, int heads, int headDim)
    {
        using GpuBuffer xBuffer = context.Upload<float>(x, "x"), wBuffer = context.Upload<float>(w, "w");
        using GpuBuffer y = context.Allocate<float>(rows * outFeatures, "y");
        using GpuBuffer qkvBuffer = context.Upload<float>(qkv, "qkv"), outGrad = context.Upload<float>(dOutput, "dOutput");
        using GpuBuffer output = context.Allocate<float>(dOutput.Length, "output"), qkvGrad = context.Allocate<float>(qkv.Length, "dQkv");
        using GpuBuffer logSumExp = context.Allocate<float>(heads * T, "logSumExp");
        using GpuBuffer scratch = context.Allocate<byte>(AttentionKernels.ScratchBytes(1, T, heads), "scratch");
        using (MatmulKernels.Override(MatmulPath.CooperativeMatrix))
        using (AttentionKernels.Override(AttentionPath.CooperativeMatrix))
            context.Execute(c =>
            {
                MatmulKernels.Forward(c, xBuffer.Whole, wBuffer.Whole, y.Whole, rows, inFeatures, outFeatures);
                AttentionKernels.Forward(c, qkvBuffer.Whole, output.Whole, logSumExp.Whole, 1, T, heads, headDim, causal: true);
                AttentionKernels.Backward(c, qkvBuffer.Whole, output.Whole, logSumExp.Whole, outGrad.Whole, qkvGrad.Whole, scratch.Whole,
                    1, T, heads, headDim, causal: true);
            });
        return [context.Download<float>(y), context.Download<float>(output), context.Download<float>(qkvGrad)];
    }
}
