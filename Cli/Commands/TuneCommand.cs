using System.Globalization;
using System.Text.Json;
using CommandLine;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.SelfTest;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Benchmarks;
using VkDiffusion.Trainer.Training;
using VkDiffusion.Trainer.Tuning;

namespace VkDiffusion.Cli.Commands;

[Verb("tune", HelpText = "Time the valid kernel variants of each family (matmul paths, split-K, attention blocks, staging, texel loads, " +
    "memory-bound layouts) as whole training steps at a model's shapes on this device, each in a child process, and cache the " +
    "fastest; train, bench step and sweep at those shapes then use them (docs/porting.md).")]
public sealed class TuneCommand : ICommand
{
    [Option("model", Default = "7M", HelpText = "Model preset whose shapes are tuned (ignored with --run).")]
    public string Model { get; set; } = "7M";

    [Option("run", HelpText = "Tune for this run directory's config.json instead: its model, objective, sequence length, batch and precision.")]
    public string? Run { get; set; }

    [Option("objective", Default = VkDiffusion.Model.Objective.Mdm, HelpText = "mdm (bidirectional attention) or ar (causal).")]
    public Objective Objective { get; set; }

    [Option("vocab", Default = "bytes", HelpText = "bytes or gpt2.")]
    public string Vocabulary { get; set; } = "bytes";

    [Option("seq", Default = 256, HelpText = "Sequence length.")]
    public int SequenceLength { get; set; }

    [Option("batch", Default = 8, HelpText = "Batch size.")]
    public int Batch { get; set; }

    [Option("precision", HelpText = PrecisionFlag.HelpText)]
    public string? Precision { get; set; }

    [Option("device", HelpText = "Device index or name substring (default: VKDIFF_DEVICE, else the best device).")]
    public string? Device { get; set; }

    [Option("steps", Default = 3, HelpText = "Timed training steps per candidate (after one warm-up step).")]
    public int Steps { get; set; }

    [Option("families", HelpText = "Tune only these kernel families (comma-separated: matmul, attention, memory).")]
    public string? Families { get; set; }

    [Option("timeout", Default = 600, HelpText = "Seconds a candidate's child may take before it is ended and the candidate dropped.")]
    public int TimeoutSeconds { get; set; }

    [Option("memory-cap", Default = 8192, HelpText = "MiB of resident memory a candidate's child may use before it is ended and the candidate dropped.")]
    public int MemoryCapMiB { get; set; }

    [Option("measure", Hidden = true, HelpText = "Child mode: time the step with the environment's switches and print one JSON line.")]
    public bool Measure { get; set; }

    /// <summary>
    /// Fault injection for the tests: VAR=value makes a measuring child whose environment sets VAR to value abort the way a
    /// crashing driver does, so the tuner's handling of a dead candidate is tested on a driver that does not crash.
    /// </summary>
    public const string FaultVariable = "VKDIFF_TUNE_FAULT";

    private sealed record Target(string Preset, ModelConfig Config, Objective Objective, int SequenceLength, int BatchSize, string? Precision);

    /// <summary>What a measuring child prints.</summary>
    private sealed record ChildMeasurement(double StepMilliseconds, double TokensPerSecond);

    int ICommand.Run()
    {
        if (Steps < 1) throw new VkDiffusionException($"--steps must be at least 1, got {Steps}", ExitCodes.Usage);
        if (TimeoutSeconds < 1) throw new VkDiffusionException($"--timeout must be at least 1 second, got {TimeoutSeconds}", ExitCodes.Usage);
        if (MemoryCapMiB < 1) throw new VkDiffusionException($"--memory-cap must be at least 1 MiB, got {MemoryCapMiB}", ExitCodes.Usage);
        PrecisionFlag.Check(Precision, "tune");
        Target target = ResolveTarget();
        return Measure ? MeasureInChild(target) : Tune(target);
    }

    private Target ResolveTarget()
    {
        if (Run is null)
            return new Target(Model, ModelPresets.Get(Model, VocabularySpec.ByName(Vocabulary)), Objective, SequenceLength, Batch, Precision);
        string configPath = Path.Combine(Run, TrainingRun.ConfigFile);
        if (!File.Exists(configPath)) throw new InvalidInputException($"{Run} holds no run ({TrainingRun.ConfigFile} is missing).");
        TrainingOptions options = TrainingOptions.FromJson(File.ReadAllText(configPath), configPath);
        return new Target(options.Preset, options.Model, options.Objective, options.SequenceLength, options.BatchSize,
            Precision ?? options.Precision.Name());
    }

    // The child: the step as `bench step` times it, under the switches its parent put in its environment.
    private int MeasureInChild(Target target)
    {
        using GpuContext context = GpuContext.Create(Device);
        Precision precision = PrecisionFlag.Resolve(target.Precision, "tune", context);
        if (Environment.GetEnvironmentVariable(FaultVariable)?.Split('=', 2) is [var variable, var value]
            && Environment.GetEnvironmentVariable(variable) == value)
            Environment.FailFast($"{FaultVariable}: simulated driver crash with {variable}={value}");
        // A path that fails its self-test must not win on speed.
        FastPathGate.RequireWorkingFastPaths(context, precision);
        StepBenchmarkResult result = StepBenchmark.Run(context, target.Preset, target.Config, target.Objective, target.SequenceLength,
            target.BatchSize, Steps, precision, SubmissionPlan.DefaultMaxMilliseconds(context.Info));
        Console.WriteLine(JsonSerializer.Serialize(new ChildMeasurement(result.StepMilliseconds, result.TokensPerSecond), JsonOptions.Lines));
        return ExitCodes.Success;
    }

    private int Tune(Target target)
    {
        using var interruption = new Interruption("vkdiff: stopping after the current candidate (Ctrl-C again to kill)...");
        using GpuContext context = GpuContext.Create(Device);
        Precision precision = PrecisionFlag.Resolve(target.Precision, "tune", context);
        var shape = TuningShape.For(target.Config, target.Objective, target.SequenceLength, target.BatchSize, precision);
        var space = new DeviceTuningSpace(context, shape, ParseFamilies());
        string path = TuningCache.PathFor(context.Info);
        var identity = TuningIdentity.For(context.Info);
        TuningCache.Loaded loaded = TuningCache.Load(path, identity);
        if (loaded.Ignored is string why) Console.WriteLine($"tune: replacing the tuning cache {path}: {why}");
        TuningCache cache = loaded.Cache ?? new TuningCache(TuningCache.CurrentFormat, identity, []);
        TuningEntry? unfinished = cache.Find(shape) is { Complete: false } partial && partial.StepsPerTrial == Steps ? partial : null;

        Console.WriteLine(context.Info.Banner);
        Console.WriteLine($"tune: {target.Preset} {target.Objective.ToString().ToUpperInvariant()}, seq {target.SequenceLength}, batch {target.BatchSize}, " +
            $"{precision.Name()} (shape {shape.Bucket}); {Steps} timed steps per candidate, each in a child process");
        if (space.SetByUser.Count > 0)
            Console.WriteLine($"tune: left as the environment sets them: {string.Join(", ", space.SetByUser.Select(v => $"{v}={Environment.GetEnvironmentVariable(v)}"))}");
        if (unfinished is not null)
            Console.WriteLine($"tune: continuing the interrupted tuning after {string.Join(", ", unfinished.FamiliesDone)} ({Tuner.Describe(unfinished.Settings)})");

        var arguments = ChildArguments(target, precision);
        var timeout = TimeSpan.FromSeconds(TimeoutSeconds);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        long memoryCap = (long)MemoryCapMiB << 20;
        var tuner = new Tuner(space, settings => MeasureCandidate(arguments, settings, timeout, memoryCap),
            entry =>
            {
                cache = cache.With(entry);
                cache.Save(path);
            },
            progress => Console.WriteLine(Describe(progress, clock.Elapsed)));
        TuningEntry result;
        try
        {
            result = tuner.Run(shape.Bucket, Steps, unfinished, interruption.Token);
        }
        catch (OperationCanceledException)
        {
            TuningEntry? kept = cache.Find(shape);
            Console.WriteLine(kept is null ? "tune: interrupted before any family was finished; the cache is unchanged."
                : $"tune: interrupted; {path} keeps the finished families ({string.Join(", ", kept.FamiliesDone)}: {Tuner.Describe(kept.Settings)}); " +
                  "run the same command again to continue.");
            throw;
        }
        int dropped = result.Trials.Count(t => t.Error is not null);
        Console.WriteLine(result.Settings.Count == 0
            ? $"tune: the defaults stay: nothing measured faster ({result.DefaultMilliseconds:F1} ms/step)"
            : $"tune: {Tuner.Describe(result.Settings)}: {result.TunedMilliseconds:F1} ms/step against the defaults' {result.DefaultMilliseconds:F1} " +
              $"({result.DefaultMilliseconds / result.TunedMilliseconds:F2}x)");
        if (dropped > 0) Console.WriteLine($"tune: {dropped} candidate(s) failed and were dropped (above, marked FAILED)");
        Console.WriteLine($"tune: wrote {path}; train, bench step and sweep at shape {shape.Bucket} on this device use it ({TunedKernels.Variable}=off ignores it).");
        return ExitCodes.Success;
    }

    private IReadOnlyList<string>? ParseFamilies()
    {
        if (Families is null) return null;
        string[] named = [.. Families.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
        string[] known = [DeviceTuningSpace.Matmul, DeviceTuningSpace.Attention, DeviceTuningSpace.Memory];
        if (named.Length == 0 || named.FirstOrDefault(f => !known.Contains(f)) is string unknown && unknown.Length > 0)
            throw new VkDiffusionException($"--families takes {string.Join(", ", known)} (comma-separated), got '{Families}'", ExitCodes.Usage);
        return named;
    }

    private string[] ChildArguments(Target target, Precision precision)
    {
        string[] shape = Run is not null ? ["--run", Run]
            : ["--model", target.Preset, "--objective", target.Objective.ToString().ToLowerInvariant(), "--vocab", Vocabulary,
               "--seq", target.SequenceLength.ToString(CultureInfo.InvariantCulture), "--batch", target.BatchSize.ToString(CultureInfo.InvariantCulture)];
        string[] device = Device is null ? [] : ["--device", Device];
        return ["tune", "--measure", .. shape, "--precision", precision.Name(), "--steps", Steps.ToString(CultureInfo.InvariantCulture), .. device];
    }

    private static TuningMeasurement MeasureCandidate(string[] arguments, IReadOnlyDictionary<string, string> settings, TimeSpan timeout, long memoryCap)
    {
        VkdiffProcess.Outcome outcome = VkdiffProcess.Run(arguments, timeout, settings, memoryCap);
        if (outcome.TimedOut) return TuningMeasurement.Failed($"did not finish within {timeout.TotalSeconds:0} s (--timeout)");
        if (outcome.OverMemory) return TuningMeasurement.Failed($"used more than {memoryCap >> 20} MiB of memory (--memory-cap)");
        // The last line that is not a stack frame: a driver's "LLVM ERROR: ...", or vkdiff's own one-line error.
        string lastWords = outcome.Errors.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .LastOrDefault(l => !l.StartsWith("at ", StringComparison.Ordinal)) ?? "";
        if (outcome.ExitCode != ExitCodes.Success)
            return TuningMeasurement.Failed($"its child ended with {VkdiffProcess.DescribeExit(outcome.ExitCode)}" + (lastWords.Length > 0 ? $": {lastWords}" : ""));
        string? line = outcome.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault(l => l.StartsWith('{'));
        try
        {
            if (line is not null && JsonSerializer.Deserialize<ChildMeasurement>(line, JsonOptions.Lines) is { StepMilliseconds: > 0 } measured)
                return new TuningMeasurement(measured.StepMilliseconds, null);
        }
        catch (JsonException)
        {
        }
        return TuningMeasurement.Failed("its child printed no measurement");
    }

    private static string Describe(TuningProgress progress, TimeSpan elapsed)
    {
        string result = progress.Measurement.Milliseconds is double ms ? $"{ms,9:F1} ms/step" : $"   FAILED: {progress.Measurement.Error}";
        double perTrial = elapsed.TotalSeconds / progress.Trial;
        string eta = TrainingRun.FormatDuration(perTrial * Math.Max(0, progress.TrialsPlanned - progress.Trial));
        string best = double.IsFinite(progress.BestMilliseconds) ? $"best so far {progress.BestMilliseconds:F1}, " : "";
        return $"[{progress.Trial}/~{progress.TrialsPlanned}] {progress.Family,-9} {progress.Setting,-40} {result} ({best}ETA ~{eta})";
    }
}
