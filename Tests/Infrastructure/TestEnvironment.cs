namespace VkDiffusion.Tests.Infrastructure;

/// <summary>Process-wide settings every test relies on, applied once before Vulkan is loaded.</summary>
public static class TestEnvironment
{
    private static bool configured;

    public static string? DeviceSelector => Environment.GetEnvironmentVariable("VKDIFF_TEST_DEVICE");

    public static void Configure()
    {
        if (configured) return;
        configured = true;
        bool pinLavapipe = string.IsNullOrEmpty(DeviceSelector)
            && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("VK_DRIVER_FILES"))
            && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("VK_ICD_FILENAMES"))
            && File.Exists(GpuFixture.LavapipeIcd);
        if (pinLavapipe) Environment.SetEnvironmentVariable("VK_DRIVER_FILES", GpuFixture.LavapipeIcd);
        // Mesa compiles each pipeline with LLVM on first use; a suite-local cache makes reruns fast.
        string cache = Path.Combine(Path.GetTempPath(), "vkdiffusion-test-cache");
        Environment.SetEnvironmentVariable("MESA_SHADER_CACHE_DIR", Path.Combine(cache, "mesa"));
        Environment.SetEnvironmentVariable("VKDIFF_CACHE_DIR", Path.Combine(cache, "pipelines"));
    }
}
