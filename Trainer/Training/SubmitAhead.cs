using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Training;

/// <summary>
/// Whether the training loop submits step N+1 before it reads step N's loss and gradient norm (docs/architecture.md,
/// "Submissions"), so the device never idles for the read, the host's bookkeeping and the next vkQueueSubmit.
/// </summary>
internal static class SubmitAhead
{
    /// <summary>1 (the default) or 0: submit-ahead on or off, for training and <c>bench step</c>.</summary>
    public const string Variable = "VKDIFF_SUBMIT_AHEAD";

    /// <summary>
    /// Whether a run trains with submit-ahead: asked for (config key submit_ahead and <see cref="Variable"/>), with two
    /// staging slots, and where the host needs nothing of step N to submit step N+1 (fp16's loss scaler runs on the
    /// device for that reason); not with several data-parallel ranks, whose all-reduce runs on the host inside the step.
    /// </summary>
    public static bool Applies(bool requested, bool overlapHostWork, int ranks) =>
        requested && overlapHostWork && ranks == 1 && EnabledByEnvironment();

    /// <summary>Refuses (exit 7) a <see cref="Variable"/> that is neither 0 nor 1, before a run writes anything.</summary>
    public static void RequireValidSetting() => EnabledByEnvironment();

    private static bool EnabledByEnvironment() => Environment.GetEnvironmentVariable(Variable)?.Trim() switch
    {
        null or "" or "1" => true,
        "0" => false,
        string other => throw new InvalidInputException($"{Variable}={other} is not a setting; use 1 (submit ahead, the default) or 0 (off)."),
    };
}
