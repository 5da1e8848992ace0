using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

// The suite's device is lavapipe with ../shared/coopmat-layer enabled (scripts/test.sh sets VKDIFF_LAYERS): the
// layer's README says which shapes it offers at each lavapipe vector width, and those are the expectations here.
[Trait("Category", "CooperativeMatrix")]
public sealed class CooperativeMatrixDeviceTests(GpuFixture fixture) : GpuTest(fixture)
{
    [Fact]
    public void The_device_lists_the_shapes_the_emulation_layer_offers_at_subgroup_8()
    {
        Assert.True(Context.CooperativeMatrixEnabled);
        var halfShapes = Context.Info.CooperativeMatrixShapes.Where(s => s.IsSubgroupScope && s.IsFloat16WithFloat32Accumulator)
            .Select(s => (s.M, s.N, s.K)).ToHashSet();
        Assert.Equal([(4u, 4u, 4u), (8u, 8u, 8u)], halfShapes.OrderBy(s => s.M));
        Assert.Equal((8u, 8u, 8u), MatmulKernels.CooperativeMatrixTile(Context, out _));
        Assert.Contains("coopmat f16->f32 4x4x4,8x8x8", Context.Info.Banner);
    }

    // The roofline measures the matrix units where the matmul kernels can use them, and only there.
    [Fact]
    public void The_roofline_measures_the_matrix_units()
    {
        DeviceRoofline roofline = DeviceRoofline.Measure(Context, quick: true);
        Assert.True(roofline.MatrixGflops > 0, $"matrix roof {roofline.MatrixGflops}");
    }

    // At LP_NATIVE_VECTOR_WIDTH=512 the subgroup is 16 and the layer offers 16x16x16: a separate process (the width is
    // read when the driver loads) runs the matmul self-test with the cooperative-matrix path as the device path, so
    // every layout, accumulation and split-K run on the 16x16x16 kernel with the validation layer on.
    [Fact]
    public void The_16x16x16_kernel_passes_the_matmul_self_test_at_subgroup_16()
    {
        string output = SelfTestAtSubgroup16.RunCooperativeMatrix(MatmulKernels.PathVariable, "matmul");
        Assert.Contains("(coopmat 16x16x16)", output);
        Assert.Contains("(coopmat 16x16x16, split-K 3)", output);
    }
}

public sealed class ValidationLogTests
{
    private static readonly string[] UnknownToOldLayers =
    [
        "Validation Error: [ UNASSIGNED-CoreValidation-Shader-InconsistentSpirv ] SPIR-V module not valid: Invalid capability operand: 6022",
        "vkCreateDevice: pCreateInfo->pNext chain includes a structure with unknown VkStructureType (1000506000); Allowed structures are [...]",
        "Validation Warning: [ VUID_Undefined ] Device Extension VK_KHR_cooperative_matrix is not supported by this layer.",
    ];

    [Fact]
    public void A_layer_older_than_the_extension_drops_only_its_three_unknown_extension_messages()
    {
        var log = new ValidationLog { LayerPredatesCooperativeMatrix = true };
        foreach (string message in UnknownToOldLayers) log.Add(message);
        log.Add("Validation Error: [ VUID-vkCmdDispatch-None-02699 ] descriptor set 0 binding 1 was never updated");
        Assert.Equal(["Validation Error: [ VUID-vkCmdDispatch-None-02699 ] descriptor set 0 binding 1 was never updated"], log.Drain());
        Assert.Equal(3, log.DroppedUnknownCooperativeMatrixMessages);
    }

    [Fact]
    public void A_current_layer_keeps_every_message()
    {
        var log = new ValidationLog { LayerPredatesCooperativeMatrix = false };
        foreach (string message in UnknownToOldLayers) log.Add(message);
        Assert.Equal(UnknownToOldLayers, log.Drain());
        Assert.Equal(0, log.DroppedUnknownCooperativeMatrixMessages);
    }
}

public sealed class DeviceRooflineTests
{
    // 4 GFLOP in 100 ms is 40 GFLOP/s; with 1 kB moved the bandwidth never binds. Against the fp32 FMA roof of
    // 10 GFLOP/s that is 400 %; against the 40 GFLOP/s matrix roof, 100 %. Without a matrix roof, fp32 it is.
    [Fact]
    public void Matrix_unit_cases_are_judged_against_the_matrix_roof()
    {
        var roofline = new DeviceRoofline(Gflops: 10, GigabytesPerSecond: 100, MatrixGflops: 40);
        Assert.Equal(4.0, roofline.RoofFraction(4e9, 1e3, 100), 9);
        Assert.Equal(1.0, roofline.RoofFraction(4e9, 1e3, 100, matrixUnits: true), 9);
        Assert.Equal(4.0, (roofline with { MatrixGflops = null }).RoofFraction(4e9, 1e3, 100, matrixUnits: true), 9);
    }
}
