using System.Text.Json;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

/// <summary>Which kernel variants a device's profile picks, and that the device's limits bound them.</summary>
public sealed class KernelProfileTests(GpuFixture fixture) : GpuTest(fixture)
{
    [Fact]
    public void Lavapipe_is_recognised_by_its_driver_id_and_other_devices_by_their_type()
    {
        Assert.Equal(KernelProfile.LlvmpipeDriverId, Context.Info.DriverId);
        Assert.Same(KernelProfile.Lavapipe, KernelProfile.For(Context.Info));
        Assert.Same(KernelProfile.HostProcessor, KernelProfile.For(DeviceKinds.OtherHostProcessor(Context.Info)));
        Assert.Same(KernelProfile.Gpu, KernelProfile.For(DeviceKinds.Gpu(Context.Info)));
    }

    [Fact]
    public void Lavapipe_keeps_its_measured_choices_and_other_devices_take_the_ones_every_implementation_compiles()
    {
        DeviceInfo lavapipe = Context.Info, host = DeviceKinds.OtherHostProcessor(Context.Info), gpu = DeviceKinds.Gpu(Context.Info);
        Assert.Equal(MatmulPath.RegisterBlockedTexels, MatmulKernels.ChoosePath(lavapipe));
        Assert.Equal(MatmulPath.RegisterBlocked, MatmulKernels.ChoosePath(host));
        Assert.Equal(MatmulPath.Tiled, MatmulKernels.ChoosePath(gpu));

        Assert.Equal("attention_bwd_rows8_d64", AttentionBlocks.For(lavapipe, 64).KernelName("attention_bwd", 64));
        Assert.Equal("attention_bwd_rows4_d128", AttentionBlocks.For(lavapipe, 128).KernelName("attention_bwd", 128));
        Assert.True(AttentionBlocks.For(lavapipe, 64).TexelLoads);
        // SwiftShader-like: one row, storage loads, and rolled loops at head dim 128 only.
        Assert.Equal("attention_bwd_d64", AttentionBlocks.For(host, 64).KernelName("attention_bwd", 64));
        Assert.Equal("attention_bwd_d128_rolled", AttentionBlocks.For(host, 128).KernelName("attention_bwd", 128));
        Assert.Equal("attention_fwd_d128_rolled_f16", AttentionBlocks.For(host, 128).KernelName("attention_fwd", 128, Precision.Fp16));
        Assert.False(AttentionBlocks.For(host, 64).TexelLoads);
        Assert.False(AttentionBlocks.For(host, 64).StageInShared);
        // A GPU with subgroups of 32 splits rows at head dim 128; one without subgroup shuffles keeps one row per invocation.
        DeviceInfo wide = gpu with { SubgroupSize = 32, MinSubgroupSize = 32, MaxSubgroupSize = 32, ComputeSubgroupShuffle = true };
        Assert.Equal("attention_bwd_d128_split", AttentionBlocks.For(wide, 128).KernelName("attention_bwd", 128));
        Assert.True(AttentionBlocks.For(wide, 128).StageInShared);
        DeviceInfo noShuffles = wide with { ComputeSubgroupShuffle = false };
        Assert.Equal("attention_bwd_d128", AttentionBlocks.For(noShuffles, 128).KernelName("attention_bwd", 128));
        Assert.True(AttentionBlocks.For(noShuffles, 128).StageInShared);
    }

    // Split rows need subgroup shuffles and subgroups that hold a row's lanes (4 at head dim 64, 8 at 128) whatever size the
    // driver picks: its smallest, or, where that is below 8 and the device can fix the size, its reported one (pipelines
    // then require it).
    [Theory]
    [InlineData(32u, 32u, 32u, false, true, true)]    // NVIDIA
    [InlineData(64u, 32u, 64u, true, true, true)]     // AMD RDNA: waves of 32 hold 8 lanes, nothing required
    [InlineData(64u, 32u, 64u, false, true, true)]
    [InlineData(32u, 8u, 32u, true, true, true)]      // Intel: 8-wide dispatches hold 8 lanes, nothing required
    [InlineData(4u, 4u, 4u, false, true, false)]      // SwiftShader-sized subgroups
    [InlineData(16u, 4u, 16u, false, true, false)]    // varies down to 4, cannot fix it
    [InlineData(16u, 4u, 16u, true, true, true)]      // varies down to 4, 16 required
    [InlineData(8u, 4u, 8u, true, true, true)]
    public void Gpus_split_rows_where_every_subgroup_holds_a_row(uint size, uint min, uint max, bool sizeControl, bool split64, bool split128)
    {
        Assert.Equal(min < KernelCache.ShuffleClusterLanes && min < max && sizeControl,
            KernelCache.RequiresShuffleSubgroupSize(DeviceKinds.Gpu(Context.Info) with
            {
                SubgroupSize = size, MinSubgroupSize = min, MaxSubgroupSize = max, ComputeSubgroupSizeControl = sizeControl,
            }));
        DeviceInfo gpu = DeviceKinds.Gpu(Context.Info) with
        {
            SubgroupSize = size, MinSubgroupSize = min, MaxSubgroupSize = max, ComputeSubgroupSizeControl = sizeControl, ComputeSubgroupShuffle = true,
        };
        foreach (var (headDim, split) in new[] { (64, split64), (128, split128) })
        {
            AttentionBlocks blocks = AttentionBlocks.For(gpu, headDim);
            Assert.Equal(split, AttentionBlocks.SplitSupport(gpu, headDim, out string whyNot));
            Assert.Equal(split ? "" : $"{gpu.Name} may run subgroups of {min} invocations, fewer than the {AttentionBlocks.SplitLanes(headDim)} lanes of a head-dim-{headDim} row", whyNot);
            Assert.Equal(split ? $"attention_fwd_d{headDim}_split_bf16" : $"attention_fwd_d{headDim}_bf16", blocks.KernelName("attention_fwd", headDim, Precision.Bf16));
            Assert.Equal(split ? (uint)(headDim == 64 ? 4 : 8) : 1u, blocks.Lanes);
            Assert.Equal(split ? 256u / blocks.Lanes : 64u, blocks.RowsPerGroup);
            Assert.Equal(2u, blocks.GroupsFor((int)blocks.RowsPerGroup + 1));
        }
        // Head dims 16 and 32 hold few enough registers unsplit; no split kernels are built for them.
        Assert.Equal("attention_bwd_d32", AttentionBlocks.For(gpu, 32).KernelName("attention_bwd", 32));
        Assert.False(AttentionBlocks.SplitSupport(gpu, 32, out _));
        // Lavapipe and other host processors keep their kernels.
        Assert.Equal("attention_bwd_rows8_d64", AttentionBlocks.For(Context.Info, 64).KernelName("attention_bwd", 64));
        Assert.Equal("attention_bwd_d128_rolled", AttentionBlocks.For(DeviceKinds.OtherHostProcessor(gpu), 128).KernelName("attention_bwd", 128));
    }

    [Theory]
    [InlineData(16 * 1024)]
    [InlineData(32 * 1024)]
    [InlineData(48 * 1024)]
    public void Attention_staging_fits_the_shared_memory_the_device_has(int sharedBytes)
    {
        DeviceInfo gpu = DeviceKinds.Gpu(Context.Info) with { SharedMemoryBytes = (uint)sharedBytes };
        foreach (int headDim in AttentionKernels.SupportedHeadDims)
        {
            AttentionBlocks blocks = AttentionBlocks.For(gpu, headDim);
            // attention_bwd stages the most: STAGE_BLOCK query and dO rows, an LSE and a delta per row.
            long stagedBytes = blocks.StageBlock * (2L * headDim + 2) * sizeof(float);
            Assert.InRange(stagedBytes, 1, Math.Min(sharedBytes, 32 * 1024));
            Assert.True(stagedBytes * 2 > Math.Min(sharedBytes, 32 * 1024) || blocks.StageBlock == 64, $"head dim {headDim}: block {blocks.StageBlock} is not the largest that fits");
        }
    }

    [Fact]
    public void The_assumed_shared_memory_is_lowered_by_the_switch_and_a_bad_value_is_refused()
    {
        var environment = new Dictionary<string, string> { ["VK_DRIVER_FILES"] = GpuFixture.LavapipeIcd, [DeviceInfo.SharedMemoryLimitVariable] = "16K" };
        var (exitCode, output, _) = CliErrorTests.RunVkdiff(environment, "devices");
        Assert.Equal(0, exitCode);
        Assert.Contains("shared 16 KiB", output);
        environment[DeviceInfo.SharedMemoryLimitVariable] = "lots";
        var (badExit, _, error) = CliErrorTests.RunVkdiff(environment, "devices");
        Assert.Equal(ExitCodes.InvalidInput, badExit);
        Assert.Contains("VKDIFF_SHARED_MEMORY_LIMIT=lots is not a size", error);
    }

    [Fact]
    public void The_assumed_binding_range_is_lowered_by_the_switch_and_every_configuration_still_records()
    {
        var environment = new Dictionary<string, string> { ["VK_DRIVER_FILES"] = GpuFixture.LavapipeIcd, ["VKDIFF_LAYERS"] = "", [DeviceInfo.BindingLimitVariable] = "16M" };
        var (exitCode, output, error) = CliErrorTests.RunVkdiff(environment, "kernels", "--json", "--filter", "rmsnorm_fwd");
        Assert.True(exitCode == ExitCodes.Success, output + error);
        JsonElement report = JsonDocument.Parse(output).RootElement;
        Assert.Equal(16UL << 20, report.GetProperty("device").GetProperty("maxStorageBufferRange").GetUInt64());
        // At 16 MiB the embedding tables of every GPT-2 preset from mini up, and the activations of the 44M-1266M presets,
        // exceed one binding.
        Assert.Empty(report.GetProperty("notRecordable").EnumerateArray());
        environment[DeviceInfo.BindingLimitVariable] = "12Q";
        var (badExit, _, badError) = CliErrorTests.RunVkdiff(environment, "devices");
        Assert.Equal(ExitCodes.InvalidInput, badExit);
        Assert.Contains("VKDIFF_BINDING_LIMIT=12Q is not a size", badError);
    }

    [Fact]
    public void A_row_count_the_kernels_are_not_built_for_is_refused()
    {
        var (exitCode, output, _) = CliErrorTests.RunVkdiff(new Dictionary<string, string>
        {
            ["VK_DRIVER_FILES"] = GpuFixture.LavapipeIcd,
            [AttentionBlocks.RowsVariable] = "3",
        }, "selftest", "--filter", "attention", "--exact");
        Assert.Equal(ExitCodes.SelfTestFailed, exitCode);
        Assert.Contains("VKDIFF_ATTENTION_ROWS=3 is not a row count", output);
    }

    [Fact]
    public void The_loader_lists_portability_enumeration_and_the_instance_enables_it()
    {
        // The Linux loader implements VK_KHR_portability_enumeration itself since 1.3.216 (MoltenVK needs it on macOS).
        using var instance = new VulkanInstance(enableValidation: false);
        uint loaderVersion = 0;
        unsafe { instance.Api.EnumerateInstanceVersion(&loaderVersion); }
        Assert.Equal(loaderVersion >= Silk.NET.Vulkan.Vk.MakeVersion(1, 3, 216), instance.PortabilityEnumeration);
        Assert.False(Context.PortabilitySubset);
    }
}
