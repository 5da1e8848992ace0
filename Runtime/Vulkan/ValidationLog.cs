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

    internal void Add(string message)
    {
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
