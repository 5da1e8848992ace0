using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Windows;

/// <summary>
/// A test that runs the Windows build under wine, on an X server of its own (Xvfb), on lavapipe; skipped, saying why,
/// where one of them is missing (scripts/setup.sh installs wine, wine64 and xvfb on Debian and Ubuntu).
/// </summary>
public sealed class WineFactAttribute : FactAttribute
{
    public WineFactAttribute()
    {
        string? missing = !OperatingSystem.IsLinux() ? "not Linux"
            : WineSession.FindOnPath("wine") is null ? "no wine on PATH (apt-get install wine wine64)"
            : WineSession.FindOnPath("Xvfb") is null ? "no Xvfb on PATH (apt-get install xvfb)"
            : !File.Exists(GpuFixture.LavapipeIcd) ? $"no lavapipe ({GpuFixture.LavapipeIcd}; apt-get install mesa-vulkan-drivers)"
            : null;
        if (missing is not null) Skip = $"the Windows smoke test needs wine, Xvfb and lavapipe: {missing}; scripts/setup.sh installs them";
    }
}
