using System.Text.Json;
using CommandLine;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Files;
using VkDiffusion.Trainer.Data;
using VkDiffusion.Trainer.Evaluation;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Cli.Commands;

[Verb("score", HelpText = "Multiple-choice accuracy: rank each task's choices by log-likelihood given its context.")]
public sealed class ScoreCommand : ICommand
{
    [Option("checkpoint", Required = true, HelpText = "A checkpoint file.")]
    public string Checkpoint { get; set; } = "";

    [Option("tasks", Required = true, HelpText = "JSONL: one {\"context\": str, \"choices\": [str, ...], \"answer\": index} per line.")]
    public string Tasks { get; set; } = "";

    [Option("method", Default = "mc", HelpText = "MDM scoring: mc (Monte Carlo bound) or chain (chain rule).")]
    public string Method { get; set; } = "mc";

    [Option("mc", Default = 32, HelpText = "MDM Monte Carlo samples per choice.")]
    public int MonteCarlo { get; set; }

    [Option("seed", Default = 0, HelpText = "Seed of the Monte Carlo masks.")]
    public int Seed { get; set; }

    [Option("device", HelpText = "Vulkan device index or name substring.")]
    public string? Device { get; set; }

    [Option("precision", HelpText = PrecisionFlag.HelpText)]
    public string? Precision { get; set; }

    [Option("out", HelpText = "Per-item scores (JSONL); default: TASKS.scores.jsonl.")]
    public string? Out { get; set; }

    private sealed record TaskItem(string Context, string[] Choices, int Answer);

    public int Run()
    {
        OptionRange.Require(MonteCarlo >= 1, "score", "mc", ">= 1", MonteCarlo);
        PrecisionFlag.Check(Precision, "score");
        if (Out is not null) OutputPath.RequireFile(Out, "--out");
        MdmScoring scoring = Method switch
        {
            "mc" => MdmScoring.MonteCarlo,
            "chain" => MdmScoring.Chain,
            _ => throw new InvalidInputException($"--method must be mc or chain, not '{Method}'."),
        };
        List<TaskItem> items = ReadTasks(Tasks);
        using RunCheckpoint.Loaded checkpoint = RunCheckpoint.Open(Checkpoint);
        ITokenizer tokenizer = checkpoint.CreateTokenizer();
        using GpuContext context = GpuContext.Create(Device);
        using var scorer = new ChoiceScorer(context, checkpoint.Config, checkpoint.Objective, checkpoint.ReadParameters(), scoring, MonteCarlo, Seed,
            PrecisionFlag.Resolve(Precision, "score", context));
        string output = Out ?? Tasks + ".scores.jsonl";
        using var writer = new StreamWriter(output);
        int correct = 0;
        for (int index = 0; index < items.Count; index++)
        {
            TaskItem item = items[index];
            uint[] contextTokens = Encode(tokenizer, item.Context);
            double[] scores = item.Choices.Select(choice => scorer.LogLikelihood(contextTokens, Encode(tokenizer, choice))).ToArray();
            int predicted = Array.IndexOf(scores, scores.Max());
            if (predicted == item.Answer) correct++;
            writer.WriteLine(JsonSerializer.Serialize(new { index, scores, predicted, answer = item.Answer, correct = predicted == item.Answer }, JsonOptions.Lines));
            Console.Error.Write($"\rscored {index + 1}/{items.Count}, accuracy so far {(double)correct / (index + 1):P1}");
        }
        Console.Error.WriteLine();
        Console.WriteLine($"accuracy {(double)correct / items.Count:P2} ({correct}/{items.Count}) with {(checkpoint.Objective == Objective.Ar ? "AR log-likelihood" : scoring == MdmScoring.Chain ? "the MDM chain rule" : $"the MDM Monte Carlo bound, K = {MonteCarlo}")}; per-item scores in {output}");
        return ExitCodes.Success;
    }

    private static uint[] Encode(ITokenizer tokenizer, string text) => tokenizer.Encode(text).Select(id => (uint)id).ToArray();

    private static List<TaskItem> ReadTasks(string path)
    {
        if (!File.Exists(path)) throw new InvalidInputException($"--tasks {path} does not exist.");
        var items = new List<TaskItem>();
        int lineNumber = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNumber++;
            if (line.Trim().Length == 0) continue;
            try
            {
                using JsonDocument document = JsonDocument.Parse(line);
                JsonElement root = document.RootElement;
                string context = root.GetProperty("context").GetString() ?? "";
                string[] choices = root.GetProperty("choices").EnumerateArray().Select(c => c.GetString() ?? "").ToArray();
                int answer = root.GetProperty("answer").GetInt32();
                if (choices.Length < 2 || answer < 0 || answer >= choices.Length || choices.Any(c => c.Length == 0))
                    throw new InvalidInputException($"{path}:{lineNumber}: need at least two non-empty choices and an answer index among them.");
                items.Add(new TaskItem(context, choices, answer));
            }
            catch (Exception error) when (error is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new InvalidInputException($"{path}:{lineNumber}: not a task line ({error.Message}); expected {{\"context\", \"choices\", \"answer\"}}.", error);
            }
        }
        if (items.Count == 0) throw new InvalidInputException($"{path} holds no task.");
        return items;
    }
}
