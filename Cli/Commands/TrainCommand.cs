using CommandLine;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Distributed;
using VkDiffusion.Runtime.SelfTest;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Data;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Cli.Commands;

[Verb("train", HelpText = "Train an MDM or AR model on a unique-token budget for many epochs (or --resume a run).")]
public sealed class TrainCommand : ICommand
{
    [Option("objective", HelpText = "mdm (masked diffusion) or ar (autoregressive).")]
    public Objective? Objective { get; set; }

    [Option("model", HelpText = "Model preset: tiny, mini, small, 7M, 14M, 44M, ... (PAPER presets).")]
    public string? Preset { get; set; }

    [Option("layers", HelpText = "Custom model: layers (with --d-model, --heads, --head-dim).")]
    public int? Layers { get; set; }

    [Option("d-model", HelpText = "Custom model: width.")]
    public int? ModelDim { get; set; }

    [Option("heads", HelpText = "Custom model: attention heads.")]
    public int? Heads { get; set; }

    [Option("head-dim", HelpText = "Custom model: head dimension (16, 32, 64 or 128).")]
    public int? HeadDim { get; set; }

    [Option("data", HelpText = "A directory written by `vkdiff prepare`.")]
    public string? Data { get; set; }

    [Option("unique-tokens", HelpText = "U: the unique-token budget (the first documents of the training split).")]
    public long? UniqueTokens { get; set; }

    [Option("epochs", HelpText = "E: how many times the U tokens are seen.")]
    public int? Epochs { get; set; }

    [Option("seq-len", HelpText = "Sequence length L (default 256).")]
    public int? SequenceLength { get; set; }

    [Option("batch", HelpText = "Sequences per micro-batch (default 8).")]
    public int? Batch { get; set; }

    [Option("grad-accum", HelpText = "Micro-batches per optimizer step on each rank (default 1); under mpirun or srun the global batch is --batch x --grad-accum x ranks.")]
    public int? GradientAccumulation { get; set; }

    [Option("lr", HelpText = "Peak learning rate (default 2e-4).")]
    public double? LearningRate { get; set; }

    [Option("min-lr", HelpText = "Final learning rate of the cosine decay (default 2e-5).")]
    public double? MinLearningRate { get; set; }

    [Option("warmup", HelpText = "Warmup as a fraction of the steps (default 0.01).")]
    public double? Warmup { get; set; }

    [Option("weight-decay", HelpText = "AdamW weight decay on 2-D weights (default 0.1).")]
    public double? WeightDecay { get; set; }

    [Option("clip", HelpText = "Global gradient-norm clip (default 1.0; 0 disables).")]
    public double? Clip { get; set; }

    [Option("dropout", HelpText = "Hidden dropout (default 0).")]
    public float? Dropout { get; set; }

    [Option("eval-every", HelpText = "Evaluate every N steps (default: 20 times per run).")]
    public int? EvalEvery { get; set; }

    [Option("eval-batches", HelpText = "Validation batches per evaluation (default 8).")]
    public int? EvalBatches { get; set; }

    [Option("eval-mc", HelpText = "MDM: Monte Carlo samples per validation sequence (default 8).")]
    public int? EvalMonteCarlo { get; set; }

    [Option("save-every", HelpText = "Save the last checkpoint every N steps (default: at evaluations).")]
    public int? SaveEvery { get; set; }

    [Option("orders", HelpText = "AR token-order ablation: train on N fixed orderings (default 1).")]
    public int? Orders { get; set; }

    [Option("seed", HelpText = "Seed of the data order, masks and init (default 1234).")]
    public int? Seed { get; set; }

    [Option("device", HelpText = "Vulkan device index or name substring (default: best; or VKDIFF_DEVICE).")]
    public string? Device { get; set; }

    [Option("max-submit-ms", HelpText = MaxSubmitFlag.HelpText)]
    public double? MaxSubmitMilliseconds { get; set; }

    [Option("precision", HelpText = PrecisionFlag.HelpText + " The run records what auto chose.")]
    public string? Precision { get; set; }

    [Option("out", HelpText = "Run directory to create.")]
    public string? Out { get; set; }

    [Option("config", HelpText = "A JSON training config (as written to RUN_DIR/config.json); flags override it.")]
    public string? Config { get; set; }

    [Option("resume", HelpText = "Continue the run in this directory from its last checkpoint (from step 0 if it has none); " +
        "--lr, --min-lr, --warmup and --clip may change the schedule from there on (recorded in RUN_DIR/history.jsonl).")]
    public string? Resume { get; set; }

    public int Run()
    {
        using IProcessGroup group = ProcessGroup.Open();
        return group.Size == 1 ? Train(group) : RankFailures.Run(group, () => Train(group));
    }

    /// <summary>Trains as one rank of <paramref name="group"/>: every rank runs this; rank 0 alone prints and writes.</summary>
    private int Train(IProcessGroup group)
    {
        using var interruption = new Interruption(group.Rank == 0 ? Interruption.StoppingAfterStep : null);
        TextWriter log = group.Rank == 0 ? Console.Out : TextWriter.Null;
        TrainingSummary summary;
        if (Resume is not null)
        {
            ScheduleOverrides overrides = RankAgreement.Run(group, ResumeOverrides);
            using GpuContext resumed = CreateContext(group, Device, _ => TrainingRun.RecordedPrecision(Resume));
            summary = TrainingRun.Resume(resumed, Resume, log, interruption.Token, overrides, group);
        }
        else
        {
            TrainingOptions options = RankAgreement.Run(group, () => BuildOptions(group.Size));
            string output = Out ?? throw new InvalidInputException("--out RUN_DIR is required (or --resume RUN_DIR).");
            Precision PrecisionOn(GpuContext device) => PrecisionFlag.Resolve(Precision, "train", device, options.Precision);
            using GpuContext context = CreateContext(group, options.Device, PrecisionOn);
            summary = TrainingRun.Start(context, options with { Precision = PrecisionOn(context) }, output, log, interruption.Token, group);
        }
        if (group.Rank == 0) Report(summary);
        return ExitCodes.Success;
    }

    /// <summary>
    /// The device, checked on every rank before any of them trains (the precision the run uses there, and the fast path it
    /// takes): a rank without a working one stops them all.
    /// </summary>
    private static GpuContext CreateContext(IProcessGroup group, string? device, Func<GpuContext, Precision> precisionOn) => RankAgreement.Run(group, () =>
    {
        GpuContext context = GpuContext.Create(device);
        try
        {
            FastPathGate.RequireWorkingFastPaths(context, precisionOn(context));
            return context;
        }
        catch
        {
            context.Dispose();
            throw;
        }
    });

    /// <summary>A resumed run keeps its config; only the schedule may change (the advice of exit 10), anything else is refused.</summary>
    internal ScheduleOverrides ResumeOverrides()
    {
        var fixedByTheRun = new (string Option, object? Value)[]
        {
            ("objective", Objective), ("model", Preset), ("layers", Layers), ("d-model", ModelDim), ("heads", Heads), ("head-dim", HeadDim),
            ("data", Data), ("unique-tokens", UniqueTokens), ("epochs", Epochs), ("seq-len", SequenceLength), ("batch", Batch),
            ("grad-accum", GradientAccumulation), ("weight-decay", WeightDecay), ("dropout", Dropout), ("eval-every", EvalEvery),
            ("eval-batches", EvalBatches), ("eval-mc", EvalMonteCarlo), ("save-every", SaveEvery), ("orders", Orders), ("seed", Seed),
            ("out", Out), ("config", Config), ("max-submit-ms", MaxSubmitMilliseconds), ("precision", Precision),
        };
        string? given = fixedByTheRun.FirstOrDefault(option => option.Value is not null).Option;
        if (given is not null)
            throw new VkDiffusionException($"--{given} cannot change with --resume (the run keeps its config.json); --resume takes only " +
                "--lr, --min-lr, --warmup, --clip and --device; see vkdiff train --help", ExitCodes.Usage);
        return new ScheduleOverrides { LearningRate = LearningRate, MinLearningRate = MinLearningRate, WarmupFraction = Warmup, ClipNorm = Clip };
    }

    /// <param name="ranks">Data-parallel ranks: --grad-accum counts one rank's micro-batches, config.json's grad_accum all of them.</param>
    internal TrainingOptions BuildOptions(int ranks = 1)
    {
        double? maxSubmitMilliseconds = MaxSubmitFlag.Check(MaxSubmitMilliseconds);
        PrecisionFlag.Check(Precision, "train");
        bool dimensionsGiven = Layers is not null || ModelDim is not null || Heads is not null || HeadDim is not null;
        if (Preset is not null && Preset != "custom" && dimensionsGiven)
            throw new VkDiffusionException($"--model {Preset} is a preset; give either --model or the custom dimensions " +
                "(--layers, --d-model, --heads, --head-dim), not both; see vkdiff train --help", ExitCodes.Usage);
        TrainingOptions? baseline = Config is null ? null : TrainingOptions.FromJson(ReadConfig(Config), Config);
        string data = Data ?? baseline?.DataDirectory ?? throw new InvalidInputException("--data DIR is required (a directory written by `vkdiff prepare`).");
        VocabularySpec vocabulary = baseline?.Model.Vocabulary ?? VocabularySpec.ByName(ReadTokenizer(data));
        string preset = Preset ?? (dimensionsGiven ? "custom" : baseline?.Preset ?? "tiny");
        // A config's model block is what it trains, edits included, unless a flag names another model.
        ModelConfig model = baseline is not null && Preset is null && !dimensionsGiven ? baseline.Model
            : preset == "custom" ? CustomModel(baseline?.Model, vocabulary)
            : ModelPresets.Get(preset, vocabulary);
        if (preset != "custom" && model != ModelPresets.Get(preset, vocabulary)) preset = "custom";
        if (Dropout is float dropout) model = model with { Dropout = dropout };
        var defaults = baseline ?? new TrainingOptions { Model = model, DataDirectory = data };
        long unique = UniqueTokens ?? (baseline?.UniqueTokens is > 0 ? baseline.UniqueTokens
            : throw new InvalidInputException("--unique-tokens U is required: the unique-token budget."));
        return defaults with
        {
            Objective = Objective ?? defaults.Objective,
            Preset = preset,
            Model = model,
            DataDirectory = data,
            UniqueTokens = unique,
            Epochs = Epochs ?? defaults.Epochs,
            SequenceLength = SequenceLength ?? defaults.SequenceLength,
            BatchSize = Batch ?? defaults.BatchSize,
            GradientAccumulation = GradientAccumulation is int perRank ? perRank * ranks : baseline?.GradientAccumulation ?? ranks,
            LearningRate = LearningRate ?? defaults.LearningRate,
            MinLearningRate = MinLearningRate ?? defaults.MinLearningRate,
            WarmupFraction = Warmup ?? defaults.WarmupFraction,
            WeightDecay = WeightDecay ?? defaults.WeightDecay,
            ClipNorm = Clip ?? defaults.ClipNorm,
            EvalEvery = EvalEvery ?? defaults.EvalEvery,
            EvalWindows = EvalBatches is int batches ? batches * (Batch ?? defaults.BatchSize) : defaults.EvalWindows,
            EvalMonteCarlo = EvalMonteCarlo ?? defaults.EvalMonteCarlo,
            SaveEvery = SaveEvery ?? defaults.SaveEvery,
            TokenOrders = Orders ?? defaults.TokenOrders,
            Seed = Seed ?? defaults.Seed,
            Device = Device ?? defaults.Device,
            MaxSubmitMilliseconds = maxSubmitMilliseconds ?? defaults.MaxSubmitMilliseconds,
        };
    }

    private ModelConfig CustomModel(ModelConfig? baseline, VocabularySpec vocabulary)
    {
        int layers = Layers ?? baseline?.Layers ?? throw new InvalidInputException("a custom model needs --layers");
        int width = ModelDim ?? baseline?.ModelDim ?? throw new InvalidInputException("a custom model needs --d-model");
        int heads = Heads ?? baseline?.Heads ?? throw new InvalidInputException("a custom model needs --heads");
        int headDim = HeadDim ?? baseline?.HeadDim ?? width / heads;
        return new ModelConfig
        {
            Layers = layers,
            ModelDim = width,
            Heads = heads,
            HeadDim = headDim,
            HiddenDim = Math.Max(64, ModelConfig.PaperHiddenDim(width)),
            Vocabulary = vocabulary,
        };
    }

    private static string ReadConfig(string path)
    {
        try { return File.ReadAllText(path); }
        catch (IOException error) { throw new InvalidInputException($"cannot read --config {path}: {error.Message}", error); }
    }

    private static string ReadTokenizer(string data)
    {
        using TokenDataset dataset = TokenDataset.Open(data);
        return dataset.Meta.Tokenizer;
    }

    private static void Report(TrainingSummary summary) =>
        Console.WriteLine($"done: {summary.Steps} steps, {summary.Tokens:N0} tokens, final train loss {summary.FinalTrainLoss:F4}, " +
            $"final val loss {summary.FinalValidationLoss:F4}, best val loss {summary.BestValidationLoss:F4} at epoch {summary.BestEpoch:F2}, " +
            $"{TrainingRun.FormatDuration(summary.WallSeconds)} on {summary.Device}. Run: {summary.RunDirectory}");
}
