using System.Text.Json;
using CommandLine;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Data;
using VkDiffusion.Trainer.Evaluation;
using VkDiffusion.Trainer.Files;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Cli.Commands;

[Verb("eval", HelpText = "Validation loss of a checkpoint: exact NLL per token (AR) or the Monte Carlo bound (MDM).")]
public sealed class EvalCommand : ICommand
{
    [Option("run", SetName = "run", HelpText = "A run directory (uses checkpoints/best.safetensors, else last).")]
    public string? RunDirectory { get; set; }

    [Option("checkpoint", SetName = "checkpoint", HelpText = "A checkpoint file.")]
    public string? Checkpoint { get; set; }

    [Option("data", Required = true, HelpText = "A directory written by `vkdiff prepare`.")]
    public string Data { get; set; } = "";

    [Option("split", Default = "val", HelpText = "val or train.")]
    public string Split { get; set; } = "val";

    [Option("seq-len", HelpText = "Sequence length (default: the run's).")]
    public int? SequenceLength { get; set; }

    [Option("batch", Default = 8, HelpText = "Sequences per forward pass.")]
    public int Batch { get; set; }

    [Option("max-windows", Default = 256, HelpText = "Evaluate at most this many windows.")]
    public int MaxWindows { get; set; }

    [Option("mc", Default = 32, HelpText = "MDM: Monte Carlo samples per sequence (PAPER: 32).")]
    public int MonteCarlo { get; set; }

    [Option("seed", Default = 0, HelpText = "Seed of the MDM masks and t grid.")]
    public int Seed { get; set; }

    [Option("device", HelpText = "Vulkan device index or name substring.")]
    public string? Device { get; set; }

    [Option("precision", HelpText = PrecisionFlag.HelpText)]
    public string? Precision { get; set; }

    [Option("out", HelpText = "Write the result as JSON to this file (default: eval.json beside the checkpoint).")]
    public string? Out { get; set; }

    public int Run()
    {
        OptionRange.Require(SequenceLength is null or (>= 2 and <= 2048), "eval", "seq-len", "in [2, 2048]", SequenceLength!);
        OptionRange.Require(Batch >= 1, "eval", "batch", ">= 1", Batch);
        OptionRange.Require(MaxWindows >= 1, "eval", "max-windows", ">= 1", MaxWindows);
        OptionRange.Require(MonteCarlo >= 1, "eval", "mc", ">= 1", MonteCarlo);
        PrecisionFlag.Check(Precision, "eval");
        if (Out is not null) OutputPath.RequireFile(Out, "--out");
        string checkpointPath = CheckpointResolver.Resolve(RunDirectory, Checkpoint);
        using RunCheckpoint.Loaded checkpoint = RunCheckpoint.Open(checkpointPath);
        using TokenDataset dataset = TokenDataset.Open(Data);
        if (dataset.Meta.Tokenizer != checkpoint.Config.Vocabulary.Name)
            throw new InvalidInputException($"{Data} uses the '{dataset.Meta.Tokenizer}' tokenizer, the checkpoint '{checkpoint.Config.Vocabulary.Name}'.");
        // Two learned vocabularies of one size share a name but not their tokens.
        if (dataset.Learned is { } learned && checkpoint.LearnedTokenizer()?.RanksText() != learned.RanksText())
            throw new InvalidInputException($"{Data} and the checkpoint both use a {learned.Name} vocabulary, but learned from other corpora: " +
                "their ids mean other tokens. Evaluate on the data the model was trained on, or prepare this corpus anew for it.");
        int length = SequenceLength ?? checkpoint.Options?.SequenceLength ?? 256;
        TokenSplit split = Split switch
        {
            "val" => dataset.Val,
            "train" => dataset.Train,
            _ => throw new InvalidInputException($"--split must be val or train, not '{Split}'"),
        };
        var windows = new ValidationWindows(split, length);
        int count = (int)Math.Min(MaxWindows, windows.WindowCount);
        if (count == 0) throw new InvalidInputException($"the {Split} split holds no window of {length + 1} tokens.");
        var buffer = new uint[count * (length + 1)];
        windows.CopyWindows(0, count, buffer);
        var list = Enumerable.Range(0, count).Select(w => buffer[(w * (length + 1))..((w + 1) * (length + 1))]).ToList();

        using GpuContext context = GpuContext.Create(Device);
        var precision = PrecisionFlag.Resolve(Precision, "eval", context);
        using var session = new TransformerSession(context,
            TransformerGraph.Build(checkpoint.Config, checkpoint.Objective, GraphMode.RowLosses, Batch, length, context.Info, precision: precision));
        session.LoadParameters(checkpoint.ReadParameters());
        var evaluator = new LossEvaluator(session);
        EvaluationResult result = checkpoint.Objective == Objective.Ar
            ? evaluator.EvaluateAutoregressive(list)
            : evaluator.EvaluateMaskedDiffusion(list, MonteCarlo, (ulong)Seed);
        string kind = checkpoint.Objective == Objective.Ar ? "NLL per token"
            : $"MC upper bound on NLL per token (K = {MonteCarlo}, seed {Seed}{(result.StandardError is double error ? $", Monte Carlo standard error {error:F4}" : "")})";
        Console.WriteLine($"{checkpoint.Objective.ToString().ToUpperInvariant()} {Split} loss {result.Loss:F4} ({kind}), perplexity {(checkpoint.Objective == Objective.Ar ? "" : "<= ")}{result.Perplexity:F2}, {result.Tokens:N0} tokens");
        string output = Out ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(checkpointPath))!, "eval.json");
        File.WriteAllText(output, JsonSerializer.Serialize(new
        {
            checkpoint = checkpointPath,
            objective = checkpoint.Objective.ToString().ToLowerInvariant(),
            split = Split,
            loss = result.Loss,
            perplexity_bound = result.Perplexity,
            tokens = result.Tokens,
            mc_samples = result.MonteCarloSamples,
            standard_error = result.StandardError,
            seed = result.Seed,
            device = context.Info.Name,
            precision = precision.Name(),
        }, JsonOptions.Indented));
        Console.WriteLine($"wrote {output}");
        return ExitCodes.Success;
    }
}
