namespace VkDiffusion.Tests.Infrastructure;

/// <summary>
/// A Vulkan implementation besides the suite's lavapipe that a child vkdiff can run on, selected as scripts/with-driver.sh
/// selects it (its ICD alone through VK_DRIVER_FILES, plus the driver's own switches). SwiftShader and the null-hardware RADV
/// come from scripts/setup-drivers.sh (.tools/drivers in the checkout); lavapipe at another SIMD width and the system's RADV
/// are the system's Mesa.
/// </summary>
public sealed record VulkanImplementation(string Name, string Icd, IReadOnlyDictionary<string, string> Switches)
{
    public static VulkanImplementation SwiftShader { get; } =
        new("SwiftShader", Path.Combine(RepositoryRoot(), ".tools", "drivers", "swiftshader", "icd.json"), new Dictionary<string, string>());

    /// <summary>lavapipe with 128-bit SIMD: subgroup size 4 (the width is read when the driver loads, hence a child process).</summary>
    public static VulkanImplementation LavapipeSubgroup4 { get; } =
        new("lavapipe at subgroup 4", GpuFixture.LavapipeIcd, new Dictionary<string, string> { ["LP_NATIVE_VECTOR_WIDTH"] = "128" });

    /// <summary>Debian 12's RADV on null hardware: an RDNA2 GPU with no memory, whose pipelines compile with AMD's compiler.</summary>
    public static VulkanImplementation RadvNullNavi21 { get; } =
        new("RADV null hardware (navi21)", "/usr/share/vulkan/icd.d/radeon_icd.x86_64.json", new Dictionary<string, string> { ["RADV_FORCE_FAMILY"] = "navi21" });

    public bool IsInstalled => File.Exists(Icd);

    /// <summary>Why a test on it is skipped, or null when it is installed.</summary>
    public string? MissingReason => IsInstalled ? null : $"{Name} is not installed ({Icd} is missing; scripts/setup-drivers.sh fetches it)";

    /// <summary>The environment a child vkdiff runs on it with, plus <paramref name="more"/>.</summary>
    public Dictionary<string, string> Environment(IReadOnlyDictionary<string, string>? more = null)
    {
        var environment = new Dictionary<string, string>(Switches) { ["VK_DRIVER_FILES"] = Icd, ["VK_ICD_FILENAMES"] = Icd };
        foreach (var (name, value) in more ?? new Dictionary<string, string>()) environment[name] = value;
        return environment;
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            if (File.Exists(Path.Combine(directory.FullName, "VkDiffusion.sln"))) return directory.FullName;
        return AppContext.BaseDirectory;
    }
}

/// <summary>A test that runs vkdiff on another Vulkan implementation; skipped, saying why, where it is not installed.</summary>
public sealed class ImplementationFactAttribute : FactAttribute
{
    public ImplementationFactAttribute(string implementation)
    {
        Skip = implementation switch
        {
            nameof(VulkanImplementation.SwiftShader) => VulkanImplementation.SwiftShader.MissingReason,
            nameof(VulkanImplementation.LavapipeSubgroup4) => VulkanImplementation.LavapipeSubgroup4.MissingReason,
            nameof(VulkanImplementation.RadvNullNavi21) => VulkanImplementation.RadvNullNavi21.MissingReason,
            _ => throw new ArgumentException($"no Vulkan implementation is called {implementation}"),
        };
    }
}
