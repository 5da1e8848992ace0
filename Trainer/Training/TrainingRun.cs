using System.Diagnostics;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Distributed;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Data;
using VkDiffusion.Trainer.Evaluation;
using VkDiffusion.Trainer.Files;
using VkDiffusion.Trainer.Tuning;

namespace VkDiffusion.Trainer.Training;

/// <summary>What a finished (or stopped) run achieved.</summary>
public sealed record TrainingSummary(
    string RunDirectory,
    Objective Objective,
    long Steps,
    long Tokens,
    double FinalTrainLoss,
    double FinalValidationLoss,
    double BestValidationLoss,
    double BestEpoch,
    double WallSeconds,
    string Device,
    int LossesReadLate);

/// <summary>
/// One training run in a run directory: config.json, metrics.jsonl, checkpoints/last.safetensors and
/// best.safetensors, loss.png. Each optimizer step is one replay of the recorded graph (one submission, or
/// a few under --max-submit-ms); the host writes the next step's batch while the device runs the current
/// one, and with submit-ahead submits the next step before it reads this one's loss. Every batch and every
/// random number derive from (seed, step), so a resumed run continues bit for bit.
/// </summary>
public sealed class TrainingRun
{
    public const string ConfigFile = "config.json";
    public const string MetricsFile = "metrics.jsonl";
    public const string PlotFile = "loss.png";
    public const string LockFile = ".lock";
    public static string LastCheckpoint(string runDirectory) => Path.Combine(runDirectory, "checkpoints", "last.safetensors");
    public static string BestCheckpoint(string runDirectory) => Path.Combine(runDirectory, "checkpoints", "best.safetensors");

    private readonly GpuContext context;
    private readonly TrainingOptions options;
    private readonly string runDirectory;
    private readonly TextWriter log;
    private readonly DataParallelRanks ranks;

    private TrainingRun(GpuContext context, TrainingOptions options, string runDirectory, TextWriter log, DataParallelRanks ranks)
    {
        this.context = context;
        this.options = options;
        this.runDirectory = runDirectory;
        this.log = log;
        this.ranks = ranks;
    }

    /// <summary>
    /// Starts a new run in <paramref name="runDirectory"/>. Everything is checked before anything is written; a
    /// directory whose run never reached its first checkpoint is started afresh, one with a checkpoint is refused.
    /// Under MPI every rank calls it; the checks agree across ranks before rank 0 writes anything.
    /// </summary>
    public static TrainingSummary Start(GpuContext context, TrainingOptions options, string runDirectory, TextWriter log, CancellationToken cancel,
        IProcessGroup? group = null)
    {
        var ranks = new DataParallelRanks(group ?? new SingleProcessGroup());
        using RunData data = ranks.Agree(() =>
        {
            options.Validate();
            PrecisionFormat.RequireSupported(options.Precision, context.Info);
            SubmitAhead.RequireValidSetting();
            DataParallelRanks.MicroBatchesPerRank(options, ranks.Size);
            return RunData.Open(options);
        });
        ranks.RequireSameRun(options, data.Dataset.Meta.Fingerprint());
        using ExclusiveLock? held = ranks.Agree(() => ranks.IsWriter ? ClaimNewRunDirectory(runDirectory) : null);
        return new TrainingRun(context, options, runDirectory, log, ranks).StartFresh(data, cancel);
    }

    private static ExclusiveLock ClaimNewRunDirectory(string runDirectory)
    {
        OutputPath.RequireDirectory(runDirectory, "--out");
        Directory.CreateDirectory(runDirectory);
        var held = ExclusiveLock.Acquire(Path.Combine(runDirectory, LockFile), $"run directory {runDirectory}");
        if (!File.Exists(LastCheckpoint(runDirectory))) return held;
        held.Dispose();
        throw new InvalidInputException($"{runDirectory} already holds a run; continue it with --resume {runDirectory} or choose another --out.");
    }

    /// <summary>
    /// Continues the run in <paramref name="runDirectory"/> from its last checkpoint (from step 0 when it has none),
    /// with the schedule changes in <paramref name="overrides"/>. Under MPI every rank calls it, with any number of ranks
    /// that divides the run's grad_accum (the global batch stays).
    /// </summary>
    public static TrainingSummary Resume(GpuContext context, string runDirectory, TextWriter log, CancellationToken cancel, ScheduleOverrides? overrides = null,
        IProcessGroup? group = null)
    {
        var ranks = new DataParallelRanks(group ?? new SingleProcessGroup());
        string configPath = Path.Combine(runDirectory, ConfigFile);
        using ExclusiveLock? held = ranks.Agree(() =>
        {
            if (!File.Exists(configPath)) throw new InvalidInputException($"{runDirectory} holds no run ({ConfigFile} is missing).");
            return ranks.IsWriter ? ExclusiveLock.Acquire(Path.Combine(runDirectory, LockFile), $"run directory {runDirectory}") : null;
        });
        string checkpoint = LastCheckpoint(runDirectory);
        var (recorded, options, data, step) = ranks.Agree(() =>
        {
            TrainingOptions recorded = TrainingOptions.FromJson(File.ReadAllText(configPath), configPath);
            TrainingOptions options = overrides?.ApplyTo(recorded) ?? recorded;
            options.Validate();
            PrecisionFormat.RequireSupported(options.Precision, context.Info);
            SubmitAhead.RequireValidSetting();
            DataParallelRanks.MicroBatchesPerRank(options, ranks.Size);
            RunData data = RunData.Open(options);
            try
            {
                long step = File.Exists(checkpoint) ? CheckResumable(checkpoint, data.Dataset.Meta.Fingerprint(), options.DataDirectory) : 0;
                return (recorded, options, data, step);
            }
            catch
            {
                data.Dispose();
                throw;
            }
        });
        using RunData opened = data;
        ranks.RequireSameRun(options, data.Dataset.Meta.Fingerprint());
        var run = new TrainingRun(context, options, runDirectory, log, ranks);
        bool fresh = !File.Exists(checkpoint);
        if (options != recorded && ranks.IsWriter)
        {
            ScheduleOverrides.Record(runDirectory, step, recorded, options);
            AtomicFile.WriteAllText(configPath, options.ToJson());
        }
        if (!fresh) return run.Execute(data, checkpoint, cancel);
        log.WriteLine($"{runDirectory} has no checkpoint yet; starting it from step 0");
        return run.StartFresh(data, cancel);
    }

    /// <summary>The precision the run in <paramref name="runDirectory"/> trains in (fp32 when it has no config: resuming it then says so).</summary>
    public static Precision RecordedPrecision(string runDirectory)
    {
        string configPath = Path.Combine(runDirectory, ConfigFile);
        return File.Exists(configPath) ? TrainingOptions.FromJson(File.ReadAllText(configPath), configPath).Precision : Precision.Fp32;
    }

    /// <summary>The checkpoint's step, once its dataset fingerprint is known to match the data it would continue on.</summary>
    private static long CheckResumable(string checkpointPath, string datasetFingerprint, string dataDirectory)
    {
        using RunCheckpoint.Loaded checkpoint = RunCheckpoint.Open(checkpointPath);
        if (checkpoint.DatasetFingerprint is string recorded && recorded != datasetFingerprint)
            throw new InvalidInputException($"{dataDirectory} no longer holds the data {checkpointPath} was trained on (the dataset fingerprint differs); " +
                "prepare the original corpus again or start a new run.");
        return checkpoint.Progress?.Step ?? throw new InvalidInputException($"{checkpointPath} records no run progress; it cannot be resumed.");
    }

    private TrainingSummary StartFresh(RunData data, CancellationToken cancel)
    {
        if (ranks.IsWriter)
        {
            AtomicFile.WriteAllText(Path.Combine(runDirectory, ConfigFile), options.ToJson());
            File.Delete(Path.Combine(runDirectory, MetricsFile));
        }
        return Execute(data, resumeFrom: null, cancel);
    }

    private TrainingSummary Execute(RunData data, string? resumeFrom, CancellationToken cancel)
    {
        EpochPlan plan = data.Plan;
        int batch = options.BatchSize, length = options.SequenceLength;
        int micro = DataParallelRanks.MicroBatchesPerRank(options, ranks.Size), firstMicroBatch = ranks.FirstMicroBatch(options);
        long totalSteps = data.TotalSteps;
        IReadOnlyList<uint[]> evalWindows = data.EvaluationWindows;
        string datasetFingerprint = data.Dataset.Meta.Fingerprint();
        string? learnedRanks = data.Dataset.Learned?.RanksText();

        log.WriteLine($"device: {context.Info.Banner}");
        log.WriteLine($"run: {options.Objective.ToString().ToUpperInvariant()} {options.Preset} ({options.Model.ParameterCount:N0} parameters), U = {plan.UniqueTokens:N0} tokens " +
            $"x {options.Epochs} epochs, {totalSteps:N0} steps of {batch * options.GradientAccumulation} x {length} tokens -> {runDirectory}");
        using IDisposable tuned = TunedKernels.Apply(context.Info, TuningShape.For(options.Model, options.Objective, length, batch, options.Precision), log);
        log.WriteLine($"precision: {options.Precision.Name()} (matmul path: {MatmulKernels.PathName(MatmulKernels.ChoosePath(context, options.Precision))})");

        var trainGraph = TransformerGraph.Build(options.Model, options.Objective, GraphMode.Train, batch, length, context.Info, micro,
            precision: options.Precision, ranks: ranks.Size);
        double? maxSubmitMilliseconds = options.MaxSubmitMilliseconds ?? SubmissionPlan.DefaultMaxMilliseconds(context.Info);
        using var train = ranks.CreateTrainingSession(context, trainGraph, options.OverlapHostWork ? 2 : 1, maxSubmitMilliseconds,
            submitAhead: SubmitAhead.Applies(options.SubmitAhead, options.OverlapHostWork, ranks.Size));
        log.WriteLine($"submit-ahead: {(train.Compiled.SubmitsAhead ? "on" : "off")} (docs/architecture.md, \"Submissions\")");
        if (ranks.Size > 1)
            log.WriteLine($"data parallel: {ranks.Size} ranks x {micro} micro-batches of {batch} sequences, gradients summed in {ranks.BucketCount} buckets");
        // Rank 0 alone evaluates, so the other ranks allocate no evaluation session.
        using TransformerSession? evaluation = ranks.IsWriter ? new TransformerSession(context, TransformerGraph.Build(options.Model, options.Objective,
            GraphMode.RowLosses, batch, length, context.Info, precision: options.Precision), shareWeightsWith: train, maxSubmitMilliseconds: maxSubmitMilliseconds) : null;
        LossEvaluator? evaluator = evaluation is null ? null : new LossEvaluator(evaluation);
        var metrics = new MetricsLog(Path.Combine(runDirectory, MetricsFile));

        RunProgress progress;
        long? lastSavedStep = null;
        if (resumeFrom is not null)
        {
            using RunCheckpoint.Loaded checkpoint = RunCheckpoint.Open(resumeFrom);
            train.LoadParameters(checkpoint.ReadParameters());
            train.LoadOptimizerState(checkpoint.ReadOptimizerState());
            progress = checkpoint.Progress ?? throw new InvalidInputException($"{resumeFrom} records no run progress; it cannot be resumed.");
            lastSavedStep = progress.Step;
            if (ranks.IsWriter) metrics.TruncateAfter(progress.Step);
            log.WriteLine($"resuming at step {progress.Step} ({progress.TokensSeen:N0} tokens)");
        }
        else
        {
            train.LoadParameters(ModelParameters.Initialize(options.Model, options.Seed));
            train.ResetOptimizerState();
            progress = new RunProgress(0, 0, 0, double.PositiveInfinity, 0);
        }

        // fp16's loss scaler runs on the device; this is the host's copy of its state, read after each step.
        LossScaleState? lossScale = null;
        if (options.Precision == Precision.Fp16)
        {
            lossScale = progress.LossScale ?? LossScaleState.Initial(options.InitialLossScale);
            train.LoadLossScale(lossScale, options.LossScaleGrowthInterval);
        }
        var schedule = new LearningRateSchedule(options.LearningRate, options.MinLearningRate,
            (long)Math.Round(options.WarmupFraction * totalSteps), totalSteps);
        var orders = options.TokenOrders > 1 ? new TokenOrders(options.TokenOrders, length + 1, options.Seed) : null;
        long evalEvery = options.EvalEvery > 0 ? options.EvalEvery : Math.Max(1, totalSteps / 20);
        long tokensPerStep = (long)batch * options.GradientAccumulation * length;

        var clock = Stopwatch.StartNew();
        double elapsedBefore = progress.ElapsedSeconds;
        // The interval average of train_loss continues across a resume, so metrics.jsonl equals an uninterrupted run's.
        long step = progress.Step, intervalStart = progress.IntervalStart ?? step;
        double intervalLoss = progress.IntervalLossSum;
        (double lastLoss, double lastValidation) = LastLoggedLosses(metrics);
        RunProgress Snapshot() => progress with
        {
            ElapsedSeconds = elapsedBefore + clock.Elapsed.TotalSeconds,
            IntervalStart = intervalStart,
            IntervalLossSum = intervalLoss,
        };
        void SaveLast()
        {
            if (!ranks.IsWriter) return;
            RunCheckpoint.Save(LastCheckpoint(runDirectory), train, options, Snapshot(), datasetFingerprint, learnedRanks);
            lastSavedStep = step;
        }
        var intervalClock = Stopwatch.StartNew();
        var window = new uint[length + 1];
        var inputs = new uint[batch * length];
        var targets = new uint[batch * length];
        var positions = new uint[batch * length];

        // This rank's micro-batch m of a step: its place among the global batch's micro-batches keys its data and masks.
        long BatchIndex(long stepIndex, int m) => stepIndex * options.GradientAccumulation + firstMicroBatch + m;

        void WriteBatch(long stepIndex)
        {
            for (int m = 0; m < micro; m++)
            {
                long batchIndex = BatchIndex(stepIndex, m);
                uint[] windows = plan.GetBatch(batchIndex, batch);
                for (int row = 0; row < batch; row++)
                {
                    windows.AsSpan(row * (length + 1), length + 1).CopyTo(window);
                    ArrangeRow(window, batchIndex * batch + row, orders, inputs.AsSpan(row * length, length),
                        targets.AsSpan(row * length, length), positions.AsSpan(row * length, length));
                }
                train.WriteInputs(m, inputs, targets, positions);
            }
        }

        // Under fp16 the device sets the step's loss scale and subtracts the skipped steps from the optimizer step.
        void WriteScalars(long stepIndex)
        {
            double stepLearningRate = schedule.At(stepIndex);
            for (int m = 0; m < micro; m++)
                train.WriteScalars(m, Scalars(stepIndex, BatchIndex(stepIndex, m), stepLearningRate));
        }

        bool Evaluates(long completedSteps) => completedSteps % evalEvery == 0 || completedSteps == totalSteps;
        bool Saves(long completedSteps) => Evaluates(completedSteps) || (options.SaveEvery > 0 && completedSteps % options.SaveEvery == 0);

        // The slots of the steps submitted and not yet accounted, oldest first: at most two.
        var slotsInFlight = new Queue<int>();
        bool batchWritten = false;
        void SubmitStep(long stepIndex)
        {
            if (!batchWritten) WriteBatch(stepIndex);
            WriteScalars(stepIndex);
            slotsInFlight.Enqueue(ranks.Submit(train));
            // The next step's batch is written now, while the device runs this step.
            batchWritten = options.OverlapHostWork && stepIndex + 1 < totalSteps;
            if (batchWritten) WriteBatch(stepIndex + 1);
        }

        while (step < totalSteps)
        {
            if (ranks.StopRequested(cancel))
            {
                // A step already submitted changes the weights: account it, so the checkpoint's step is the weights' step.
                while (slotsInFlight.Count > 0) AccountStep(slotsInFlight.Dequeue());
                SaveLast();
                log.WriteLine($"interrupted at step {step}; saved {LastCheckpoint(runDirectory)}. Continue with: vkdiff train --resume {runDirectory}");
                throw new OperationCanceledException(cancel);
            }
            if (slotsInFlight.Count == 0) SubmitStep(step);
            // Submit-ahead: the next step is queued before this one's loss is read, unless the host needs the weights
            // this step leaves (evaluation, save, the end), which the next step would change.
            if (train.Compiled.SubmitsAhead && !Saves(step + 1)) SubmitStep(step + 1);
            AccountStep(slotsInFlight.Dequeue());
        }

        // Reads a finished step's loss and norm, stops a diverged run, logs, evaluates and saves.
        void AccountStep(int slot)
        {
            double learningRate = schedule.At(step);
            float loss = ranks.SumLoss(train.ReadLoss(slot));
            (float gradNorm, _) = train.ReadGradientNorm(slot);
            if (!float.IsFinite(loss))
                throw ranks.OnEveryRank(Divergence.At($"the loss became {loss} (gradient norm {gradNorm})" +
                    (options.Precision == Precision.Fp16 ? "; fp16 activations may have overflowed: --precision bf16 has fp32's range" : ""),
                    step + 1, runDirectory, lastSavedStep));
            if (lossScale is null && !float.IsFinite(gradNorm))
                throw ranks.OnEveryRank(Divergence.At($"the gradient norm became {gradNorm} (loss {loss})", step + 1, runDirectory, lastSavedStep));
            if (lossScale is not null)
            {
                lossScale = train.ReadLossScale(slot);
                if (lossScale.HasCollapsed)
                    throw ranks.OnEveryRank(Divergence.At($"fp16 gradients overflowed even at a loss scale of 2^{LossScaleState.MinExponent}", step + 1,
                        runDirectory, lastSavedStep));
            }
            step++;
            lastLoss = loss;
            intervalLoss += loss;
            long tokens = step * tokensPerStep;
            double epoch = plan.EpochAt(tokens);
            progress = progress with { Step = step, TokensSeen = tokens, LossScale = lossScale };

            bool evaluate = Evaluates(step);
            double? validationLoss = null;
            if (evaluate)
            {
                ranks.RequireIdenticalParameters(train, step);
                // Rank 0 evaluates and tells the others, so a diverged validation loss stops every rank alike.
                validationLoss = ranks.FromWriter(evaluator is null ? 0 : Evaluate(evaluator, evalWindows));
                if (!double.IsFinite(validationLoss.Value))
                    throw ranks.OnEveryRank(Divergence.At($"the validation loss became {validationLoss.Value}", step, runDirectory, lastSavedStep));
            }
            if (evaluate && ranks.IsWriter)
            {
                lastValidation = validationLoss!.Value;
                if (validationLoss.Value < progress.BestValidationLoss)
                {
                    progress = progress with { BestValidationLoss = validationLoss.Value, BestEpoch = epoch };
                    RunCheckpoint.Save(BestCheckpoint(runDirectory), train, options, Snapshot(), datasetFingerprint, learnedRanks, includeOptimizer: false);
                }
            }
            if (ranks.IsWriter && (evaluate || step % Math.Max(1, options.LogEvery) == 0))
            {
                double seconds = intervalClock.Elapsed.TotalSeconds;
                double tokensPerSecond = (step - intervalStart) * tokensPerStep / Math.Max(seconds, 1e-9);
                double elapsed = elapsedBefore + clock.Elapsed.TotalSeconds;
                metrics.Append(new MetricsRecord(step, epoch, tokens, intervalLoss / (step - intervalStart), validationLoss, learningRate, gradNorm, tokensPerSecond, elapsed,
                    lossScale?.Scale, lossScale?.SkippedSteps));
                double eta = (totalSteps - step) * tokensPerStep / Math.Max(tokensPerSecond, 1e-9);
                log.WriteLine($"step {step,7}/{totalSteps} | epoch {epoch,7:F2} | loss {intervalLoss / (step - intervalStart):F4}" +
                    (validationLoss is double v ? $" | val {v:F4}" : "") +
                    $" | lr {learningRate:E2} | grad {gradNorm:F3}" +
                    (lossScale is null ? "" : $" | scale 2^{lossScale.Exponent}, {lossScale.SkippedSteps} skipped") +
                    $" | {tokensPerSecond / 1000:F1}k tok/s | ETA {FormatDuration(eta)}");
                intervalStart = step;
                intervalLoss = 0;
                intervalClock.Restart();
            }
            if (Saves(step)) SaveLast();
        }

        double wall = elapsedBefore + clock.Elapsed.TotalSeconds;
        if (ranks.Size > 1) log.WriteLine($"parameters bit-identical on all {ranks.Size} ranks (SHA-256 compared at every evaluation, the last at step {step})");
        if (ranks.IsWriter) TrainingPlots.WriteLossPlot(runDirectory, plan.UniqueTokens, options);
        return new TrainingSummary(runDirectory, options.Objective, step, step * tokensPerStep, lastLoss, lastValidation,
            progress.BestValidationLoss, progress.BestEpoch, wall, context.Info.Name, train.LossesReadLate);
    }

    private void ArrangeRow(ReadOnlySpan<uint> window, long windowIndex, TokenOrders? orders, Span<uint> inputs, Span<uint> targets, Span<uint> positions)
    {
        int length = options.SequenceLength;
        if (options.Objective == Objective.Mdm)
        {
            // MDM has no shift: the sequence is the window's first L tokens and it is its own target.
            window[..length].CopyTo(inputs);
            window[..length].CopyTo(targets);
            for (int i = 0; i < length; i++) positions[i] = (uint)i;
            return;
        }
        if (orders is not null)
        {
            orders.Arrange(window, orders.OrderOf(windowIndex), inputs, targets, positions);
            return;
        }
        window[..length].CopyTo(inputs);
        window[1..].CopyTo(targets);
        for (int i = 0; i < length; i++) positions[i] = (uint)i;
    }

    /// <param name="stepsBefore">Steps taken before this one (under fp16 the device subtracts those it skipped).</param>
    private StepScalars Scalars(long stepsBefore, long batchIndex, double learningRate) => StepScalars.ForStep(
        (uint)(stepsBefore + 1), (uint)batchIndex, (ulong)options.Seed, (float)learningRate,
        (float)options.Beta1, (float)options.Beta2, (float)options.AdamEpsilon, (float)options.WeightDecay, (float)options.ClipNorm);

    private double Evaluate(LossEvaluator evaluator, IReadOnlyList<uint[]> windows) =>
        options.Objective == Objective.Ar
            ? evaluator.EvaluateAutoregressive(windows).Loss
            : evaluator.EvaluateMaskedDiffusion(windows, options.EvalMonteCarlo, (ulong)options.Seed).Loss;

    /// <summary>What a run resumed after its last step reports: the losses it logged last, not NaN.</summary>
    private static (double TrainLoss, double ValidationLoss) LastLoggedLosses(MetricsLog metrics)
    {
        IReadOnlyList<MetricsRecord> logged = MetricsLog.Read(metrics.Path);
        return (logged.Count > 0 ? logged[^1].TrainLoss : double.NaN, logged.LastOrDefault(r => r.ValLoss is not null)?.ValLoss ?? double.NaN);
    }

    public static string FormatDuration(double seconds)
    {
        if (!double.IsFinite(seconds)) return "?";
        var span = TimeSpan.FromSeconds(Math.Max(0, seconds));
        return span.TotalHours >= 1 ? $"{(int)span.TotalHours}h{span.Minutes:D2}m" : span.TotalMinutes >= 1 ? $"{span.Minutes}m{span.Seconds:D2}s" : $"{span.Seconds}s";
    }
}
