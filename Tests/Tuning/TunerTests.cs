using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Tuning;

namespace VkDiffusion.Tests.Tuning;

/// <summary>The tuner's search against a scripted device: what it takes, drops, keeps when interrupted and checks at the end.</summary>
public sealed class TunerTests
{
    // Two families: "tiles" with switch TILE (values small, large), "layout" with switch LAYOUT (rows). A switch's
    // candidates leave out the value it already has, as the device space does.
    private sealed class ScriptedSpace : ITuningSpace
    {
        public IReadOnlyList<string> Families { get; } = ["tiles", "layout"];

        public IReadOnlyList<string> Switches(string family) => family == "tiles" ? ["TILE"] : ["LAYOUT"];

        public IReadOnlyList<string> Candidates(string variable, IReadOnlyDictionary<string, string> settings) =>
            [.. (variable == "TILE" ? new[] { "small", "large" } : ["rows"]).Where(v => !settings.TryGetValue(variable, out string? set) || set != v)];
    }

    // Milliseconds per step: 100 by default; TILE=large saves 20; LAYOUT=rows saves 1 (inside the 3% margin).
    private static double Time(IReadOnlyDictionary<string, string> settings) =>
        100 - (settings.GetValueOrDefault("TILE") == "large" ? 20 : 0) - (settings.GetValueOrDefault("LAYOUT") == "rows" ? 1 : 0);

    private sealed class Recorder
    {
        public List<string> Measured { get; } = [];
        public List<TuningEntry> Saved { get; } = [];
    }

    private static Tuner Create(Recorder recorder, Func<IReadOnlyDictionary<string, string>, TuningMeasurement> measure, Action<TuningEntry>? onSave = null) =>
        new(new ScriptedSpace(), settings =>
        {
            recorder.Measured.Add(Tuner.Describe(settings));
            return measure(settings);
        }, entry =>
        {
            recorder.Saved.Add(entry);
            onSave?.Invoke(entry);
        });

    [Fact]
    public void Takes_a_clearly_faster_value_keeps_the_default_within_the_margin_and_confirms_against_the_defaults()
    {
        var recorder = new Recorder();
        TuningEntry result = Create(recorder, s => new TuningMeasurement(Time(s), null)).Run("shape", 3, null, CancellationToken.None);

        Assert.Equal(new Dictionary<string, string> { ["TILE"] = "large" }, result.Settings);
        Assert.True(result.Complete);
        Assert.Equal(["tiles", "layout"], result.FamiliesDone);
        Assert.Equal(100, result.DefaultMilliseconds);
        Assert.Equal(80, result.TunedMilliseconds);
        // Start, TILE=small, TILE=large (a win, so timed again), LAYOUT=rows on top of TILE=large, then defaults and
        // tuned in turn twice.
        Assert.Equal(["defaults", "TILE=small", "TILE=large", "TILE=large", "LAYOUT=rows TILE=large", "defaults", "TILE=large", "defaults", "TILE=large"],
            recorder.Measured);
        Assert.Equal(recorder.Measured.Count, result.Trials.Count);
        // Saved after each family and at the end.
        Assert.Equal([false, false, true], recorder.Saved.Select(e => e.Complete));
    }

    [Fact]
    public void A_candidate_whose_child_crashed_is_recorded_and_dropped_and_the_rest_go_on()
    {
        var recorder = new Recorder();
        TuningEntry result = Create(recorder, s => s.GetValueOrDefault("TILE") == "large"
            ? TuningMeasurement.Failed("its child ended with SIGABRT (exit code 134: the driver aborted)")
            : new TuningMeasurement(Time(s), null)).Run("shape", 3, null, CancellationToken.None);

        TuningTrial crashed = Assert.Single(result.Trials, t => t.Error is not null);
        Assert.Equal("large", crashed.Settings["TILE"]);
        Assert.Contains("SIGABRT", crashed.Error);
        Assert.Null(crashed.Milliseconds);
        Assert.Empty(result.Settings);
        Assert.Contains("LAYOUT=rows", recorder.Measured);
        Assert.True(result.Complete);
    }

    [Fact]
    public void A_win_that_does_not_repeat_is_not_taken()
    {
        var recorder = new Recorder();
        int largeTrials = 0;
        // TILE=large is fast once (a quiet moment of a busy machine), then as slow as the defaults.
        TuningEntry result = Create(recorder, s => new TuningMeasurement(
            s.GetValueOrDefault("TILE") == "large" && ++largeTrials == 1 ? 60 : 100, null)).Run("shape", 3, null, CancellationToken.None);
        Assert.Empty(result.Settings);
        Assert.Equal(["defaults", "TILE=small", "TILE=large", "TILE=large", "LAYOUT=rows"], recorder.Measured);
    }

    [Fact]
    public void The_defaults_stay_when_the_tuned_settings_are_not_faster_in_the_final_comparison()
    {
        var recorder = new Recorder();
        int measurements = 0;
        // TILE=large looks fast during the search (a noisy moment) and is slower than the defaults afterwards.
        TuningEntry result = Create(recorder, s =>
        {
            measurements++;
            bool large = s.GetValueOrDefault("TILE") == "large";
            return new TuningMeasurement(large ? (measurements <= 5 ? 70 : 105) : 100, null);
        }).Run("shape", 3, null, CancellationToken.None);

        Assert.Empty(result.Settings);
        Assert.True(result.Complete);
        Assert.Equal(100, result.DefaultMilliseconds);
        Assert.Equal(100, result.TunedMilliseconds);
    }

    [Fact]
    public void An_interrupted_tuning_keeps_its_finished_families_and_continues_from_them()
    {
        var recorder = new Recorder();
        using var stop = new CancellationTokenSource();
        Tuner interrupted = Create(recorder, s => new TuningMeasurement(Time(s), null), entry =>
        {
            if (entry.FamiliesDone.Count == 1) stop.Cancel();
        });
        Assert.ThrowsAny<OperationCanceledException>(() => interrupted.Run("shape", 3, null, stop.Token));
        TuningEntry kept = recorder.Saved[^1];
        Assert.False(kept.Complete);
        Assert.Equal(["tiles"], kept.FamiliesDone);
        Assert.Equal("large", kept.Settings["TILE"]);

        var resumed = new Recorder();
        TuningEntry result = Create(resumed, s => new TuningMeasurement(Time(s), null)).Run("shape", 3, kept, CancellationToken.None);
        Assert.DoesNotContain("TILE=small", resumed.Measured);
        Assert.Equal("TILE=large", resumed.Measured[0]);
        Assert.Equal(["tiles", "layout"], result.FamiliesDone);
        Assert.True(result.Complete);
        Assert.Equal(kept.Trials.Count + resumed.Measured.Count, result.Trials.Count);
    }

    [Fact]
    public void A_step_that_fails_with_the_starting_settings_is_an_error_naming_why()
    {
        var recorder = new Recorder();
        var error = Assert.Throws<InvalidInputException>(() => Create(recorder, _ => TuningMeasurement.Failed("out of device memory"))
            .Run("shape", 3, null, CancellationToken.None));
        Assert.Contains("default kernels", error.Message);
        Assert.Contains("out of device memory", error.Message);
        Assert.Empty(recorder.Saved);
    }
}
