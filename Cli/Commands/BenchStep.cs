using System.Text.Json;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Distributed;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Benchmarks;
using VkDiffusion.Trainer.Tuning;

namespace VkDiffusion.Cli.Commands;

/// <summary>`vkdiff bench step`: one model's whole training step, host and GPU time, submissions and memory; under mpirun
/// or srun also each rank's step time and the gradient all-reduces (rank 0 prints for all).</summary>
internal sealed class BenchStep(string? device, bool json, string preset, Objective objective, string vocabulary, int sequenceLength, int batchSize, int steps,
    double? maxSubmitMilliseconds, string? precisionFlag)
{
    public int Run()
    {
        PrecisionFlag.Check(precisionFlag, "bench");
        using IProcessGroup group = ProcessGroup.Open();
        return group.Size == 1 ? Run(group) : RankFailures.Run(group, () => Run(group));
    }

    private int Run(IProcessGroup group)
    {
        using GpuContext context = RankAgreement.Run(group, () => GpuContext.Create(device));
        Precision precision = PrecisionFlag.Resolve(precisionFlag, "bench", context);
        ModelConfig config = ModelPresets.Get(preset, VocabularySpec.ByName(vocabulary));
        bool printing = !json && group.Rank == 0;
        if (printing) Console.WriteLine(context.Info.Banner);
        // The line goes into the JSON with --json (stderr is for errors alone).
        var kernels = new StringWriter();
        using IDisposable tuned = TunedKernels.Apply(context.Info, TuningShape.For(config, objective, sequenceLength, batchSize, precision), kernels);
        if (printing) Console.Write(kernels);
        StepBenchmarkResult result;
        try
        {
            result = StepBenchmark.Run(context, preset, config, objective, sequenceLength, batchSize, steps, precision, maxSubmitMilliseconds ?? SubmissionPlan.DefaultMaxMilliseconds(context.Info),
                printing ? message => Console.Error.Write($"\r{message}        ") : null, group);
        }
        finally
        {
            // End the progress line, so that an error message gets a line of its own.
            if (printing) Console.Error.WriteLine();
        }
        if (group.Rank != 0) return ExitCodes.Success;
        result = result with { Kernels = kernels.ToString().Trim() };
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(result, JsonOptions.Report));
            return ExitCodes.Success;
        }
        static string MiB(long bytes) => $"{bytes / (1024.0 * 1024):F1} MiB";
        Console.WriteLine($"{result.Model} {result.Objective} {result.Vocabulary} vocab, seq {result.SequenceLength}, batch {result.BatchSize}, " +
            $"{result.Precision} (matmul path {result.MatmulPath}):");
        Console.WriteLine($"  {result.TokensPerSecond:F0} tokens/s, {result.StepMilliseconds:F1} ms/step, submit-ahead {(result.SubmitAhead ? "on" : "off")} " +
            $"(host {result.HostMilliseconds:F2} ms = " +
            $"{100 * result.HostMilliseconds / result.StepMilliseconds:F1}%, of which {result.HiddenHostMilliseconds:F2} ms hidden behind the GPU; " +
            $"GPU busy {result.GpuMilliseconds:F1} ms), {result.SubmissionsPerStep:F1} submissions/step" +
            (result.MaxSubmitMilliseconds is double bound ? $" (bound {bound:G} ms)" : "") +
            $", {result.DispatchesPerStep} dispatches, {result.BarriersPerStep} barriers");
        Console.WriteLine($"  memory: parameters {MiB(result.ParameterBytes)}, gradients {MiB(result.GradientBytes)}, AdamW {MiB(result.OptimizerBytes)}, " +
            (result.WeightCopyBytes > 0 ? $"16-bit weight copies {MiB(result.WeightCopyBytes)}, " : "") +
            $"activations {MiB(result.ActivationArenaBytes)} (unplanned {MiB(result.UnplannedActivationBytes)}), total {MiB(result.TotalBytes)}");
        if (result.DataParallel is { } figures)
        {
            Console.WriteLine($"  {figures.Ranks} ranks, step ms by rank: {string.Join(", ", figures.RankStepMilliseconds.Select(ms => ms.ToString("F1")))}");
            Console.WriteLine($"  gradient all-reduce: {figures.Buckets} buckets, {MiB(figures.BytesReducedPerStep)} per rank and step, " +
                $"{figures.AllReduceMilliseconds:F2} ms per step ({100 * figures.HiddenShare:F0}% of it hidden behind backward); " +
                $"not hidden: {100 * figures.ExposedShareOfStep(result.StepMilliseconds):F1}% of the step");
        }
        Console.WriteLine("  GPU time by kernel (one profiled step):");
        foreach (var (kernel, calls, milliseconds) in result.TopKernels)
            Console.WriteLine($"    {kernel,-32} {calls,5} calls {milliseconds,9:F2} ms");
        return ExitCodes.Success;
    }
}
