using System.Diagnostics;
using System.Reflection;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.SelfTest;

/// <summary>
/// The registry behind `vkdiff selftest`: every <see cref="ISelfTestCheck"/> found by reflection, run
/// in name order on one device. A check that throws, or during which the validation layer (on with
/// VKDIFF_VALIDATION=1) reports anything, fails; the suite goes on with the next check, except after
/// a lost device, which it reports and rethrows.
/// </summary>
public sealed class SelfTestSuite
{
    public SelfTestSuite(IEnumerable<ISelfTestCheck> checks)
    {
        Checks = checks.OrderBy(check => check.Name, StringComparer.Ordinal).ToList();
        var duplicate = Checks.GroupBy(check => check.Name).FirstOrDefault(group => group.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"two self-test checks are named '{duplicate.Key}'");
    }

    public IReadOnlyList<ISelfTestCheck> Checks { get; }

    /// <summary>
    /// Every concrete <see cref="ISelfTestCheck"/> with a parameterless constructor in
    /// <paramref name="assemblies"/> (by default the Runtime assembly, where the kernels live).
    /// </summary>
    public static SelfTestSuite Discover(params Assembly[] assemblies)
    {
        if (assemblies.Length == 0) assemblies = [typeof(ISelfTestCheck).Assembly];
        var checks = assemblies
            .SelectMany(assembly => assembly.GetTypes())
            .Where(type => typeof(ISelfTestCheck).IsAssignableFrom(type) && type is { IsAbstract: false, IsInterface: false }
                && type.GetConstructor(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance, Type.EmptyTypes) is not null)
            .Select(type => (ISelfTestCheck)Activator.CreateInstance(type, nonPublic: true)!);
        return new SelfTestSuite(checks);
    }

    /// <summary>
    /// The checks whose name contains <paramref name="filter"/> or one of its comma-separated parts (equals one, when
    /// <paramref name="exact"/>), all when null; none is refused (exit 7) with the list of names.
    /// </summary>
    public IReadOnlyList<ISelfTestCheck> Select(string? filter, bool exact = false)
    {
        string[] parts = filter?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
        var selected = Checks.Where(check => filter is null || parts.Any(part => exact
            ? check.Name.Equals(part, StringComparison.OrdinalIgnoreCase)
            : check.Name.Contains(part, StringComparison.OrdinalIgnoreCase))).ToList();
        if (selected.Count == 0)
            throw new InvalidInputException($"No self-test check name {(exact ? "is" : "contains")} '{filter}'. Checks: {string.Join(", ", Checks.Select(c => c.Name))}.");
        return selected;
    }

    /// <summary>
    /// Runs the checks <see cref="Select"/> picks, calling <paramref name="onResult"/> as each case finishes so output streams while
    /// the suite runs.
    /// </summary>
    public SelfTestReport Run(GpuContext context, string? filter = null, bool exact = false, Action<SelfTestResult>? onResult = null)
    {
        IReadOnlyList<ISelfTestCheck> selected = Select(filter, exact);
        var results = new List<SelfTestResult>();
        void Report(SelfTestResult result)
        {
            results.Add(result);
            onResult?.Invoke(result);
        }

        var clock = Stopwatch.StartNew();
        context.Validation?.Drain();
        foreach (ISelfTestCheck check in selected)
        {
            using IEnumerator<SelfTestResult> cases = check.Run(context).GetEnumerator();
            while (true)
            {
                try
                {
                    if (!cases.MoveNext()) break;
                }
                catch (DeviceLostException error)
                {
                    Report(SelfTestResult.Failed(check.Name, "(device lost)", error.Message));
                    throw;
                }
                catch (Exception error)
                {
                    Report(SelfTestResult.Failed(check.Name, "(exception)", $"{error.GetType().Name}: {error.Message}"));
                    break;
                }
                Report(cases.Current);
            }
            context.WaitForSubmittedWork();
            var messages = context.Validation?.Drain() ?? [];
            if (messages.Count > 0)
                Report(SelfTestResult.Failed(check.Name, "(validation)", $"{messages.Count} validation message(s), the first: {messages[0]}"));
        }
        return new SelfTestReport(results, clock.Elapsed);
    }
}

/// <summary>Every case's result; the suite passed when there was at least one case and none failed.</summary>
public sealed record SelfTestReport(IReadOnlyList<SelfTestResult> Results, TimeSpan Elapsed)
{
    public bool Passed => Results.Count > 0 && Results.All(result => result.Passed);
    public int FailedCount => Results.Count(result => !result.Passed);
}
