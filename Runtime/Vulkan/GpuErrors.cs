namespace VkDiffusion.Runtime.Vulkan;

/// <summary>Process exit codes of every VkDiffusion tool; documented in docs/cli.md.</summary>
public static class ExitCodes
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int Usage = 2;
    public const int NoVulkanLoader = 3;
    public const int NoDevice = 4;
    public const int DeviceLost = 5;
    public const int OutOfDeviceMemory = 6;
    public const int InvalidInput = 7;
    public const int SelfTestFailed = 8;
    public const int Interrupted = 9;
    public const int Diverged = 10;
    public const int FileSystem = 11;
}

/// <summary>An error the user can act on: the message says what happened and what to do.</summary>
public class VkDiffusionException(string message, int exitCode = ExitCodes.Failure, Exception? inner = null)
    : Exception(message, inner)
{
    public int ExitCode { get; } = exitCode;
}

public sealed class NoVulkanLoaderException(string message, Exception? inner = null)
    : VkDiffusionException(message, ExitCodes.NoVulkanLoader, inner);

public sealed class NoDeviceException(string message) : VkDiffusionException(message, ExitCodes.NoDevice);

/// <summary>A lost or hung device; <see cref="StillRunning"/>: it may still be executing work, so the process must end without tearing the driver down.</summary>
public sealed class DeviceLostException(string message, bool stillRunning = false) : VkDiffusionException(message, ExitCodes.DeviceLost)
{
    public bool StillRunning { get; } = stillRunning;
}

public sealed class OutOfDeviceMemoryException(string message) : VkDiffusionException(message, ExitCodes.OutOfDeviceMemory);

/// <summary>Bad user input: a malformed config, corpus, checkpoint or an impossible shape.</summary>
public class InvalidInputException(string message, Exception? inner = null)
    : VkDiffusionException(message, ExitCodes.InvalidInput, inner);

/// <summary>
/// A shape this device cannot bind even in runs (a row wider than maxStorageBufferRange): bad input for this device, and
/// for `vkdiff kernels` a configuration it lists as not recordable rather than an error.
/// </summary>
public sealed class BindingRangeException(string message) : InvalidInputException(message);

/// <summary>A Vulkan call failed with a result no caller can recover from.</summary>
public sealed class VulkanCallException(string call, Silk.NET.Vulkan.Result result)
    : VkDiffusionException($"Vulkan call {call} failed with {result}.");

internal static class VulkanResult
{
    /// <summary>Turns a failed VkResult into the typed exception that tells the user what to do.</summary>
    public static void Check(Silk.NET.Vulkan.Result result, string call)
    {
        switch (result)
        {
            case Silk.NET.Vulkan.Result.Success:
            case Silk.NET.Vulkan.Result.Incomplete:
                return;
            case Silk.NET.Vulkan.Result.ErrorDeviceLost:
                throw new DeviceLostException(
                    $"The Vulkan device was lost during {call} (a driver reset, a kernel that ran too long, or a driver bug). " +
                    "Re-run with VKDIFF_VALIDATION=1 and, if it persists, run `vkdiff selftest` and quote its output in a bug report.");
            case Silk.NET.Vulkan.Result.ErrorOutOfDeviceMemory:
            case Silk.NET.Vulkan.Result.ErrorOutOfHostMemory:
                throw new OutOfDeviceMemoryException(
                    $"Out of device memory during {call} ({result}). Use a smaller --batch (with --grad-accum to keep the " +
                    "effective batch), a shorter --seq-len or a smaller model.");
            default:
                throw new VulkanCallException(call, result);
        }
    }
}
