using System.Diagnostics;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Graph;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Benchmarks;

/// <summary>What one training step costs on a device.</summary>
public sealed record StepBenchmarkResult(
    string Device,
    string Model,
    string Objective,
    string Vocabulary,
    int SequenceLength,
    int BatchSize,
    int Steps,
    double TokensPerSecond,
    double StepMilliseconds,
    double HostMilliseconds,
    double GpuMilliseconds,
    double SubmissionsPerStep,
    int DispatchesPerStep,
    int BarriersPerStep,
    long ParameterBytes,
    long GradientBytes,
    long OptimizerBytes,
    long ActivationArenaBytes,
    long UnplannedActivationBytes,
    long TotalBytes,
    IReadOnlyList<(string Kernel, int Calls, double Milliseconds)> TopKernels);

/// <summary>
/// Times whole training steps of a model: wall time per step, the host's share (writing inputs and
/// submitting), GPU time from timestamp queries, submissions per step, and the memory plan.
/// </summary>
public static class StepBenchmark
{
    public static StepBenchmarkResult Run(GpuContext context, string preset, ModelConfig config, Objective objective, int sequenceLength,
        int batchSize, int steps, Action<string>? progress = null)
    {
        var graph = TransformerGraph.Build(config, objective, GraphMode.Train, batchSize, sequenceLength, context.Info);
        using var session = new TransformerSession(context, graph);
        session.LoadParameters(ModelParameters.Initialize(config, seed: 1));
        session.ResetOptimizerState();
        var random = new Random(2);
        int rows = batchSize * sequenceLength;
        var tokens = new uint[rows];
        var targets = new uint[rows];
        uint[] positions = Evaluation.LossEvaluator.Positions(batchSize, sequenceLength);

        void Step(int step)
        {
            for (int i = 0; i < rows; i++)
            {
                tokens[i] = (uint)random.Next(config.Vocabulary.MaskId);
                targets[i] = (uint)random.Next(config.Vocabulary.MaskId);
            }
            session.WriteInputs(0, tokens, targets, positions);
            var scalars = StepScalars.ForStep((uint)step + 1, (uint)step, seed: 3, learningRate: 1e-4f);
            session.WriteScalars(0, scalars);
            session.Submit();
        }

        progress?.Invoke("compiling pipelines (first step)...");
        Step(0);
        session.Wait();
        int submissionsBefore = context.SubmissionCount;
        double hostSeconds = 0;
        var wall = Stopwatch.StartNew();
        for (int step = 1; step <= steps; step++)
        {
            long hostStart = Stopwatch.GetTimestamp();
            Step(step);
            hostSeconds += Stopwatch.GetElapsedTime(hostStart).TotalSeconds;
            session.Wait();
            progress?.Invoke($"step {step}/{steps}: {wall.Elapsed.TotalMilliseconds / step:F1} ms/step");
        }
        double stepSeconds = wall.Elapsed.TotalSeconds / steps;
        double submissions = (double)(context.SubmissionCount - submissionsBefore) / steps;

        // One more step with timestamps around every dispatch, for GPU time and the per-kernel split.
        using var profiled = new TransformerSession(context, TransformerGraph.Build(config, objective, GraphMode.Train, batchSize, sequenceLength, context.Info),
            profile: true, shareWeightsWith: session);
        profiled.ResetOptimizerState();
        profiled.WriteInputs(0, tokens, targets, positions);
        profiled.WriteScalars(0, StepScalars.ForStep(1, 0, seed: 3, learningRate: 1e-4f));
        profiled.Run();
        var timings = profiled.Compiled.Commands.ReadTimings();
        double gpuMilliseconds = timings.Sum(t => t.Milliseconds);
        var topKernels = timings
            .GroupBy(t => t.Label.Split('<')[0])
            .Select(g => (g.Key, g.Count(), g.Sum(t => t.Milliseconds)))
            .OrderByDescending(k => k.Item3)
            .Take(12)
            .ToList();

        MemoryReport memory = session.Compiled.Memory;
        return new StepBenchmarkResult(
            context.Info.Name, preset, objective.ToString().ToLowerInvariant(), config.Vocabulary.Name, sequenceLength, batchSize, steps,
            rows / stepSeconds, stepSeconds * 1000, hostSeconds / steps * 1000, gpuMilliseconds, submissions,
            session.Compiled.Commands.DispatchCount, session.Compiled.Commands.BarrierCount,
            memory.Bytes(TensorRole.Parameter), memory.Bytes(TensorRole.ParameterGradient), memory.Bytes(TensorRole.OptimizerState),
            memory.ArenaBytes, memory.UnplannedTransientBytes, memory.TotalBytes, topKernels);
    }
}
