using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

public sealed class PipelineCacheTests(GpuFixture fixture) : GpuTest(fixture)
{
    [Fact]
    public void A_corrupt_pipeline_cache_file_is_ignored_and_rewritten()
    {
        string path = Path.Combine(CacheLocation.Directory(),
            $"pipelines-{Context.Info.DeviceUuid}-{Context.Info.RawDriverVersion:x8}.bin");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, Enumerable.Range(0, 4096).Select(i => (byte)(i * 7)).ToArray());

        using (GpuContext context = GpuContext.Create(TestEnvironment.DeviceSelector, validation: true))
        {
            using GpuBuffer y = context.Allocate<float>(5, "y");
            context.Execute(c => BasicKernels.Fill(c, y.Whole, 3f));
            Assert.Equal([3f, 3f, 3f, 3f, 3f], context.Download<float>(y));
            Assert.Empty(context.Validation!.Drain());
        }

        // Rewritten on dispose with a valid header (VkPipelineCacheHeaderVersionOne: length >= 32, version 1, our vendor).
        byte[] rewritten = File.ReadAllBytes(path);
        Assert.True(rewritten.Length >= 32);
        Assert.Equal(1u, BitConverter.ToUInt32(rewritten, 4));
        Assert.Equal(Context.Info.VendorId, BitConverter.ToUInt32(rewritten, 8));
    }
}
