using System.Collections.Concurrent;

namespace VkDiffusion.Runtime.Vulkan;

/// <summary>
/// The messages the Khronos validation layer reported for one instance. Tests assert it stays empty;
/// users see the messages on stderr when they set VKDIFF_VALIDATION=1.
/// </summary>
public sealed class ValidationLog
{
    private readonly ConcurrentQueue<string> messages = new();

    public bool EchoToStandardError { get; init; }

    public IReadOnlyList<string> Messages => messages.ToArray();

    /// <summary>
    /// Set when the validation layer predates VK_KHR_cooperative_matrix (Khronos added it in 1.3.255; Debian 12 ships
    /// 1.3.239): such a layer rejects the extension, its feature struct and its SPIR-V capability as unknown while
    /// validating everything else, so exactly those three messages are dropped (and counted).
    /// </summary>
    public bool LayerPredatesCooperativeMatrix { get; init; }

    /// <summary>Messages dropped because the layer predates VK_KHR_cooperative_matrix.</summary>
    public int DroppedUnknownCooperativeMatrixMessages => droppedCount;

    private int droppedCount;

    private static readonly string[] UnknownCooperativeMatrixSignatures =
    [
        "Invalid capability operand: 6022", // SPIR-V CooperativeMatrixKHR
        "unknown VkStructureType (1000506000)", // VkPhysicalDeviceCooperativeMatrixFeaturesKHR
        "Device Extension VK_KHR_cooperative_matrix is not supported by this layer",
    ];

    internal void Add(string message)
    {
        if (LayerPredatesCooperativeMatrix && UnknownCooperativeMatrixSignatures.Any(message.Contains))
        {
            Interlocked.Increment(ref droppedCount);
            return;
        }
        messages.Enqueue(message);
        if (EchoToStandardError) Console.Error.WriteLine($"vulkan validation: {message}");
    }

    /// <summary>Returns the messages collected so far and forgets them.</summary>
    public IReadOnlyList<string> Drain()
    {
        var drained = new List<string>();
        while (messages.TryDequeue(out string? message)) drained.Add(message);
        return drained;
    }
}
