using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Tuning;

/// <summary>The switches one device's tuning varies, by kernel family, and which values are worth trying.</summary>
public interface ITuningSpace
{
    /// <summary>Kernel families in the order they are tuned (each family's choice is measured on top of the earlier ones').</summary>
    IReadOnlyList<string> Families { get; }

    /// <summary>The switches of <paramref name="family"/> the tuner may set (not those the user set in the environment).</summary>
    IReadOnlyList<string> Switches(string family);

    /// <summary>
    /// Values of <paramref name="variable"/> worth measuring on top of <paramref name="settings"/>: valid on this device
    /// and shape, each choosing kernels other than the current ones (none when the switch has no effect there).
    /// </summary>
    IReadOnlyList<string> Candidates(string variable, IReadOnlyDictionary<string, string> settings);
}

/// <summary>A measurement of one setting: milliseconds per training step, or why it could not be measured.</summary>
public sealed record TuningMeasurement(double? Milliseconds, string? Error)
{
    public static TuningMeasurement Failed(string error) => new(null, error);
}

/// <summary>One line of the tuner's progress.</summary>
/// <param name="BestMilliseconds">The best settings' time before this trial (infinite before the first).</param>
public sealed record TuningProgress(string Family, string Setting, TuningMeasurement Measurement, double BestMilliseconds, int Trial, int TrialsPlanned);

/// <summary>
/// Coordinate descent over a device's kernel switches, measured as whole training steps in child processes (the
/// measure delegate): family by family, each switch's candidate values are timed with the best settings so far, and a
/// value is taken only when it beats the best by <see cref="Margin"/> twice in a row (on a noisy machine an equal-speed
/// choice stays the default, and one lucky time does not become the yardstick). A candidate that fails (its child crashed, hung or refused) is recorded and dropped. After each family
/// the entry is saved (an interrupted tuning keeps the finished families and continues from them); at the end the
/// tuned settings and the defaults are timed in turn <see cref="FinalRounds"/> times each and the defaults stay unless
/// the tuned settings are faster.
/// </summary>
public sealed class Tuner(ITuningSpace space, Func<IReadOnlyDictionary<string, string>, TuningMeasurement> measure, Action<TuningEntry> save,
    Action<TuningProgress>? progress = null)
{
    /// <summary>A candidate replaces the best setting only when this much faster (3%).</summary>
    public const double Margin = 0.03;

    public const int FinalRounds = 2;

    /// <summary>The family name of the trials that compare the tuned settings with the defaults at the end.</summary>
    public const string FinalFamily = "final";

    public TuningEntry Run(string shape, int stepsPerTrial, TuningEntry? unfinished, CancellationToken cancel)
    {
        var settings = new Dictionary<string, string>(unfinished?.Settings ?? new Dictionary<string, string>());
        var done = new List<string>(unfinished?.FamiliesDone ?? []);
        var trials = new List<TuningTrial>(unfinished?.Trials ?? []);
        TuningEntry Entry(bool complete, double? defaults = null, double? tuned = null) =>
            new(shape, new Dictionary<string, string>(settings), [.. done], complete, defaults, tuned, stepsPerTrial, DateTime.UtcNow, [.. trials]);

        int trial = 0;
        // Trials so far and the candidates left on top of the current settings (later choices may change a few), and the final check.
        int finalLeft = 2 * FinalRounds;
        int Planned() => trial + space.Families.Where(f => !done.Contains(f)).SelectMany(space.Switches).Sum(v => space.Candidates(v, settings).Count)
            + finalLeft;
        TuningMeasurement Measure(string family, IReadOnlyDictionary<string, string> setting, double best)
        {
            cancel.ThrowIfCancellationRequested();
            if (family == FinalFamily) finalLeft--;
            TuningMeasurement measured = measure(setting);
            // A stop during this trial ends the tuning here: its family is unfinished, so it is not saved.
            cancel.ThrowIfCancellationRequested();
            trials.Add(new TuningTrial(family, setting, measured.Milliseconds, measured.Error));
            trial++;
            progress?.Invoke(new TuningProgress(family, Describe(setting), measured, best, trial, Planned()));
            return measured;
        }

        TuningMeasurement start = Measure("start", new Dictionary<string, string>(settings), double.PositiveInfinity);
        double best = start.Milliseconds
            ?? throw new InvalidInputException($"the training step fails with {(settings.Count == 0 ? "the default kernels" : Describe(settings))}, " +
                $"so there is nothing to tune against: {start.Error}");
        foreach (string family in space.Families)
        {
            if (done.Contains(family)) continue;
            foreach (string variable in space.Switches(family))
            {
                string? chosen = null;
                foreach (string value in space.Candidates(variable, settings))
                {
                    var candidate = new Dictionary<string, string>(settings) { [variable] = value };
                    if (Measure(family, candidate, best).Milliseconds is not double first || first >= best * (1 - Margin)) continue;
                    // A win is timed again and counts at the slower of its two times: one lucky measurement on a
                    // busy machine must not become the yardstick every later candidate fails against.
                    if (Measure(family, candidate, best).Milliseconds is double again && Math.Max(first, again) < best * (1 - Margin))
                    {
                        best = Math.Max(first, again);
                        chosen = value;
                    }
                }
                if (chosen is not null) settings[variable] = chosen;
            }
            done.Add(family);
            save(Entry(complete: false));
        }
        if (settings.Count == 0)
        {
            TuningEntry defaultsOnly = Entry(complete: true, best, best);
            save(defaultsOnly);
            return defaultsOnly;
        }
        // The defaults and the tuned settings in turn, so a drift of the machine's speed touches both alike.
        var defaults = new List<double>();
        var tuned = new List<double>();
        var tunedSettings = new Dictionary<string, string>(settings);
        for (int round = 0; round < FinalRounds; round++)
        {
            if (Measure(FinalFamily, new Dictionary<string, string>(), best).Milliseconds is double d) defaults.Add(d);
            if (Measure(FinalFamily, tunedSettings, best).Milliseconds is double t) tuned.Add(t);
        }
        double? defaultMs = defaults.Count > 0 ? Median(defaults) : null, tunedMs = tuned.Count > 0 ? Median(tuned) : null;
        if (tunedMs is null || (defaultMs is double dm && tunedMs >= dm)) settings.Clear();
        TuningEntry result = Entry(complete: true, defaultMs, settings.Count == 0 ? defaultMs : tunedMs);
        save(result);
        return result;
    }

    public static string Describe(IReadOnlyDictionary<string, string> settings) =>
        settings.Count == 0 ? "defaults" : string.Join(" ", settings.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => $"{s.Key}={s.Value}"));

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
