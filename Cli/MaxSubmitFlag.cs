using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Cli;

/// <summary>`--max-submit-ms N`, shared by train, sweep and bench step.</summary>
internal static class MaxSubmitFlag
{
    public const string HelpText = "Bound in ms on the device time of one queue submission: the step is split into several " +
        "(for GPUs behind a watchdog; default 1500 on Windows and for AMD GPUs on Linux, none elsewhere).";

    /// <summary>The flag's value, or a usage error (exit 2) when it is zero, negative or not a number.</summary>
    public static double? Check(double? milliseconds) => milliseconds is double value && !(value > 0)
        ? throw new VkDiffusionException($"--max-submit-ms must be a positive number of milliseconds, got {value}.", ExitCodes.Usage)
        : milliseconds;
}
