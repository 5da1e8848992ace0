namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// The environment switches that choose between kernel variants that are all valid on a device (VKDIFF_MATMUL,
/// VKDIFF_ATTENTION_ROWS, ...; docs/porting.md lists them), read in this one place so that a tuned setting can stand in
/// for a switch the user left unset: `vkdiff tune` measures settings of these switches on a device and `train`, `bench
/// step` and `sweep` apply the winners with <see cref="UseTuned"/>. A switch set in the environment always wins over a
/// tuned value, so a user who forces a path gets it.
/// The tuned settings are process-wide: one process trains on one device.
/// </summary>
public static class KernelSwitches
{
    private static readonly object gate = new();
    private static IReadOnlyDictionary<string, string> tuned = new Dictionary<string, string>();

    /// <summary>The switch's value: the environment's when it is set (non-empty), else the tuned one, else null (the device profile decides).</summary>
    public static string? Get(string variable)
    {
        string? set = Environment.GetEnvironmentVariable(variable);
        if (!string.IsNullOrWhiteSpace(set)) return set;
        lock (gate) return tuned.TryGetValue(variable, out string? value) ? value : null;
    }

    /// <summary>
    /// Applies tuned <paramref name="settings"/> (switch name to value) until the result is disposed, when the earlier
    /// ones come back. Values are checked where each switch is read, as the environment's are.
    /// </summary>
    public static IDisposable UseTuned(IReadOnlyDictionary<string, string> settings)
    {
        lock (gate)
        {
            var previous = tuned;
            tuned = new Dictionary<string, string>(settings);
            return new Restore(previous);
        }
    }

    private sealed class Restore(IReadOnlyDictionary<string, string> previous) : IDisposable
    {
        private bool disposed;

        public void Dispose()
        {
            lock (gate)
            {
                if (disposed) return;
                disposed = true;
                tuned = previous;
            }
        }
    }
}
