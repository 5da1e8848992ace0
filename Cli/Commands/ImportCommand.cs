using CommandLine;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Export;
using VkDiffusion.Trainer.Files;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Cli.Commands;

[Verb("import", HelpText = "Turn a Hugging Face directory in the layout `vkdiff export --format hf` writes into a vkdiff checkpoint (docs/export.md).")]
public sealed class ImportCommand : ICommand
{
    [Option("hf", Required = true, HelpText = "The Hugging Face model directory (config.json, model.safetensors).")]
    public string HfDirectory { get; set; } = "";

    [Option("out", Required = true, HelpText = "The checkpoint file to write.")]
    public string Out { get; set; } = "";

    [Option("force", HelpText = "Replace an existing --out.")]
    public bool Force { get; set; }

    public int Run()
    {
        OutputPath.RequireFile(Out, "--out");
        if (File.Exists(Out) && !Force) throw new InvalidInputException($"{Out} exists; pass --force to replace it.");
        HfImport.Imported model = HfImport.Read(HfDirectory);
        RunCheckpoint.SaveWeights(Out, model.Config, model.Objective, model.Parameters, model.LearnedTokenizer?.RanksText());
        Console.WriteLine($"imported {model.Objective.ToString().ToUpperInvariant()} model {HfDirectory} to {Out} ({model.Config.Vocabulary.Name} vocabulary, {model.Config.ParameterCount:N0} parameters)");
        return ExitCodes.Success;
    }
}
