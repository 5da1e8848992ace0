using System.Diagnostics;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Distributed;
using VkDiffusion.Trainer.Training;
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
    string Precision,
    string MatmulPath,
    int Steps,
    double TokensPerSecond,
    double StepMilliseconds,
    bool SubmitAhead,
    double HostMilliseconds,
    double HiddenHostMilliseconds,
    double GpuMilliseconds,
    double? MaxSubmitMilliseconds,
    double SubmissionsPerStep,
    int DispatchesPerStep,
    int BarriersPerStep,
    long ParameterBytes,
    long GradientBytes,
    long OptimizerBytes,
    long WeightCopyBytes,
    long ActivationArenaBytes,
    long UnplannedActivationBytes,
    long TotalBytes,
    IReadOnlyList<KernelTime> TopKernels,
    DataParallelFigures? DataParallel)
{
    /// <summary>Which kernels the step ran: `vkdiff tune`'s settings or the defaults, and why (TunedKernels' line).</summary>
    public string? Kernels { get; init; }
}

/// <summary>
/// A step under MPI: each rank's step time; per step, the time the rank spent in gradient all-reduces, the share of
/// it spent while its device still ran backward, and the gradient bytes it reduced (MPI moves about 2(N-1)/N times
/// that over the network with a ring all-reduce).
/// </summary>
public sealed record DataParallelFigures(int Ranks, int Buckets, IReadOnlyList<double> RankStepMilliseconds, double AllReduceMilliseconds,
    double HiddenShare, long BytesReducedPerStep)
{
    /// <summary>All-reduce time not hidden behind backward, as a share of rank 0's step.</summary>
    public double ExposedShareOfStep(double stepMilliseconds) => AllReduceMilliseconds * (1 - HiddenShare) / stepMilliseconds;
}

/// <summary>GPU time of one kernel (all its variants) over one profiled step.</summary>
public sealed record KernelTime(string Kernel, int Calls, double Milliseconds);

/// <summary>
/// Times whole training steps of a model as the training loop runs them: wall time per step, the host's
/// time (writing inputs, submitting, reading the loss and norm) and the part of it spent while the device was
/// still running an earlier step, GPU time from timestamp queries, submissions per step, and the memory plan.
/// </summary>
public static class StepBenchmark
{
    /// <param name="group">Under MPI, the ranks that each run a step on their own batch and sum the gradients.</param>
    public static StepBenchmarkResult Run(GpuContext context, string preset, ModelConfig config, Objective objective, int sequenceLength,
        int batchSize, int steps, Precision precision = Precision.Fp32, double? maxSubmitMilliseconds = null, Action<string>? progress = null,
        IProcessGroup? group = null)
    {
        var ranks = new DataParallelRanks(group ?? new SingleProcessGroup());
        var graph = TransformerGraph.Build(config, objective, GraphMode.Train, batchSize, sequenceLength, context.Info, precision: precision, ranks: ranks.Size);
        bool submitAhead = SubmitAhead.Applies(requested: true, overlapHostWork: true, ranks.Size);
        using var session = ranks.CreateTrainingSession(context, graph, hostInputSlots: 2, maxSubmitMilliseconds, submitAhead);
        session.LoadParameters(ModelParameters.Initialize(config, seed: 1));
        session.ResetOptimizerState();
        var random = new Random(2);
        int rows = batchSize * sequenceLength;
        var tokens = new uint[rows];
        var targets = new uint[rows];
        uint[] positions = Evaluation.LossEvaluator.Positions(batchSize, sequenceLength);

        void WriteStep(int step)
        {
            for (int i = 0; i < rows; i++)
            {
                tokens[i] = (uint)random.Next(config.Vocabulary.MaskId);
                targets[i] = (uint)random.Next(config.Vocabulary.MaskId);
            }
            session.WriteInputs(0, tokens, targets, positions);
            session.WriteScalars(0, StepScalars.ForStep((uint)step + 1, (uint)step, seed: 3, learningRate: 1e-4f));
        }

        // Warm-up: the first step compiles the pipelines; under a bound the first steps are the profiled ones,
        // and the next replays the bounded recording for the first time.
        int warmupSteps = maxSubmitMilliseconds is null ? 1 : CompiledGraph.ProfiledSteps + 1;
        progress?.Invoke("compiling pipelines (first step)...");
        for (int step = 0; step < warmupSteps; step++)
        {
            WriteStep(step);
            ranks.Submit(session);
            session.Wait();
        }
        CommunicationTotals? communicationBefore = ranks.Communication;
        static double Seconds(Action work)
        {
            long start = Stopwatch.GetTimestamp();
            work();
            return Stopwatch.GetElapsedTime(start).TotalSeconds;
        }

        int submissionsBefore = context.SubmissionCount;
        var wall = Stopwatch.StartNew();
        double hostSeconds = 0, hiddenSeconds = 0;
        // A piece of host work is hidden when the device still runs an earlier step once it is done.
        void Host(Action work, int? runningSlot)
        {
            double seconds = Seconds(work);
            hostSeconds += seconds;
            if (runningSlot is int slot && session.Compiled.IsSlotRunning(slot)) hiddenSeconds += seconds;
        }
        // Waiting for a step is the host's idle time; reading its loss and norm is its work.
        void ReadStep(int slot, int? runningSlot)
        {
            session.Compiled.Wait(slot);
            Host(() => _ = (session.ReadLoss(slot), session.ReadGradientNorm(slot)), runningSlot);
        }
        // As in training: submit a step (with submit-ahead while the previous one runs, whose loss and norm are read
        // next), write the next step's inputs while it runs, then (without submit-ahead) wait for it and read its loss.
        Host(() => WriteStep(warmupSteps), runningSlot: null);
        int? previousSlot = null;
        for (int step = 1; step <= steps; step++)
        {
            int slot = 0;
            Host(() => slot = ranks.Submit(session), previousSlot);
            if (previousSlot is int previous) ReadStep(previous, slot);
            if (step < steps) Host(() => WriteStep(warmupSteps + step), slot);
            if (submitAhead) previousSlot = slot;
            else ReadStep(slot, runningSlot: null);
            progress?.Invoke($"step {step}/{steps}: {wall.Elapsed.TotalMilliseconds / step:F1} ms/step");
        }
        if (previousSlot is int last) ReadStep(last, runningSlot: null);
        double stepSeconds = wall.Elapsed.TotalSeconds / steps;
        DataParallelFigures? dataParallel = DataParallelFiguresSince(ranks, communicationBefore, stepSeconds * 1000);
        double submissions = (double)(context.SubmissionCount - submissionsBefore) / steps;

        // One more step with timestamps around every dispatch, for GPU time and the per-kernel split.
        using var profiled = new TransformerSession(context, TransformerGraph.Build(config, objective, GraphMode.Train, batchSize, sequenceLength, context.Info,
            precision: precision), profile: true, shareWeightsWith: session);
        profiled.ResetOptimizerState();
        profiled.WriteInputs(0, tokens, targets, positions);
        profiled.WriteScalars(0, StepScalars.ForStep(1, 0, seed: 3, learningRate: 1e-4f));
        profiled.Run();
        var timings = profiled.Compiled.Commands.ReadTimings();
        double gpuMilliseconds = timings.Sum(t => t.Milliseconds);
        var topKernels = timings
            .GroupBy(t => t.Label.Split('<')[0])
            .Select(g => new KernelTime(g.Key, g.Count(), g.Sum(t => t.Milliseconds)))
            .OrderByDescending(k => k.Milliseconds)
            .Take(12)
            .ToList();

        MemoryReport memory = session.Compiled.Memory;
        return new StepBenchmarkResult(
            context.Info.Name, preset, objective.ToString().ToLowerInvariant(), config.Vocabulary.Name, sequenceLength, batchSize,
            precision.Name(), MatmulKernels.PathName(MatmulKernels.ChoosePath(context, precision)), steps,
            rows / stepSeconds, stepSeconds * 1000, submitAhead, hostSeconds / steps * 1000, hiddenSeconds / steps * 1000, gpuMilliseconds,
            maxSubmitMilliseconds, submissions,
            session.Compiled.Stages.Sum(stage => stage.DispatchCount), session.Compiled.Stages.Sum(stage => stage.BarrierCount),
            memory.Bytes(TensorRole.Parameter), memory.Bytes(TensorRole.ParameterGradient), memory.Bytes(TensorRole.OptimizerState),
            memory.Bytes(TensorRole.WeightCopy),
            memory.ArenaBytes, memory.UnplannedTransientBytes, memory.TotalBytes, topKernels, dataParallel);
    }

    /// <summary>The all-reduce figures of the timed steps, with every rank's step time gathered on every rank.</summary>
    private static DataParallelFigures? DataParallelFiguresSince(DataParallelRanks ranks, CommunicationTotals? before, double stepMilliseconds)
    {
        if (ranks.Communication is not { } after || before is null) return null;
        int steps = after.Steps - before.Steps;
        double allReduceSeconds = after.AllReduceSeconds - before.AllReduceSeconds, hiddenSeconds = after.HiddenSeconds - before.HiddenSeconds;
        var stepTimes = new float[ranks.Size];
        stepTimes[ranks.Group.Rank] = (float)stepMilliseconds;
        ranks.Group.AllReduceSum(stepTimes);
        return new DataParallelFigures(ranks.Size, ranks.BucketCount, [.. stepTimes.Select(time => (double)time)], allReduceSeconds * 1000 / steps,
            allReduceSeconds > 0 ? hiddenSeconds / allReduceSeconds : 0, (after.BytesReduced - before.BytesReduced) / steps);
    }
}
