using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Cli;

/// <summary>Range checks of numeric options, made before any work: a value outside its documented range is a usage error (exit 2).</summary>
internal static class OptionRange
{
    public static void Require(bool inRange, string verb, string option, string range, object value)
    {
        if (!inRange) throw new VkDiffusionException($"--{option} must be {range}, got {value}; see vkdiff {verb} --help", ExitCodes.Usage);
    }
}
