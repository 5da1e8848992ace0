using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

// What each precision needs from a device, what auto picks, and the spellings --precision accepts.
public sealed class PrecisionTests(GpuFixture fixture) : GpuTest(fixture)
{
    [Fact]
    public void A_device_without_16_bit_storage_or_integers_is_refused_naming_the_missing_feature()
    {
        DeviceInfo noStorage = Context.Info with { StorageBuffer16Bit = false }, noInt16 = Context.Info with { ShaderInt16 = false };
        Assert.Contains("storageBuffer16BitAccess", PrecisionFormat.MissingFeature(Precision.Fp16, noStorage));
        Assert.Contains("storageBuffer16BitAccess", PrecisionFormat.MissingFeature(Precision.Bf16, noStorage));
        Assert.Contains("shaderInt16", PrecisionFormat.MissingFeature(Precision.Bf16, noInt16));
        // fp16 reads and writes 16-bit storage only: no 16-bit integer arithmetic.
        Assert.Null(PrecisionFormat.MissingFeature(Precision.Fp16, noInt16));
        Assert.Null(PrecisionFormat.MissingFeature(Precision.Fp32, noStorage));
    }

    [Fact]
    public void Auto_keeps_a_cpu_device_in_fp32_and_an_explicit_precision_is_kept()
    {
        Assert.Equal(KernelProfile.Lavapipe, KernelProfile.For(Context.Info));
        Assert.Equal(Precision.Fp32, PrecisionFormat.Resolve(null, Context));
        Assert.Equal(Precision.Bf16, PrecisionFormat.Resolve(Precision.Bf16, Context));
        Assert.Equal(Precision.Fp16, PrecisionFormat.Resolve(Precision.Fp16, Context));
    }

    [Theory]
    [InlineData("fp32", Precision.Fp32)]
    [InlineData(" FP16 ", Precision.Fp16)]
    [InlineData("bf16", Precision.Bf16)]
    [InlineData("auto", null)]
    public void The_flag_spellings_parse(string text, Precision? expected)
    {
        Assert.True(PrecisionFormat.TryParse(text, out Precision? precision));
        Assert.Equal(expected, precision);
    }

    [Theory]
    [InlineData("fp8")]
    [InlineData("half")]
    [InlineData("")]
    public void Other_spellings_do_not_parse(string text) => Assert.False(PrecisionFormat.TryParse(text, out _));
}
