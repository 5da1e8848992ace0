using CommandLine;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Export;
using VkDiffusion.Trainer.Files;

namespace VkDiffusion.Cli.Commands;

[Verb("export", HelpText = "Write a checkpoint as a GGUF file for llama.cpp (AR: llama, MDM: llada) or as a Hugging Face model directory (docs/export.md).")]
public sealed class ExportCommand : ICommand
{
    [Option("run", SetName = "run", HelpText = "A run directory (uses checkpoints/best.safetensors, else last).")]
    public string? RunDirectory { get; set; }

    [Option("checkpoint", SetName = "checkpoint", HelpText = "A checkpoint file.")]
    public string? Checkpoint { get; set; }

    [Option("format", Required = true, HelpText = "gguf (one file) or hf (a directory).")]
    public string Format { get; set; } = "";

    [Option("out", Required = true, HelpText = "The GGUF file or Hugging Face directory to write.")]
    public string Out { get; set; } = "";

    [Option("dtype", Default = "f32", HelpText = "Number format of the weight matrices: f32, f16 or bf16 (GGUF keeps norm weights in f32).")]
    public string DType { get; set; } = "f32";

    [Option("force", HelpText = "Replace an existing --out.")]
    public bool Force { get; set; }

    public int Run()
    {
        string format = Format.ToLowerInvariant();
        OptionRange.Require(format is "gguf" or "hf", "export", "format", "gguf or hf", Format);
        ExportDType? dtype = ExportDTypes.Parse(DType);
        OptionRange.Require(dtype is not null, "export", "dtype", ExportDTypes.Names, DType);
        bool gguf = format == "gguf";
        if (gguf) OutputPath.RequireFile(Out, "--out");
        else OutputPath.RequireDirectory(Out, "--out");
        if ((File.Exists(Out) || Directory.Exists(Out)) && !Force)
            throw new InvalidInputException($"{Out} exists; pass --force to replace it.");
        string checkpointPath = CheckpointResolver.Resolve(RunDirectory, Checkpoint);
        ExportSource source = ExportSource.Read(checkpointPath);
        string name = Path.GetFileNameWithoutExtension(Path.GetFullPath(Out));
        if (gguf)
        {
            GgufWriter file = GgufExport.Build(source, dtype!.Value, name);
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(Out))!);
            AtomicFile.Write(Out, file.Write);
        }
        else AtomicFile.WriteDirectory(Out, directory => HfExport.Write(source, dtype!.Value, directory));
        string objective = source.Objective == Objective.Ar ? "AR" : "MDM";
        string layout = gguf ? $"GGUF, llama.cpp architecture {GgufExport.Architecture(source.Objective)}" : $"Hugging Face {(source.Objective == Objective.Ar ? HfConfig.CausalArchitecture : HfConfig.DiffusionArchitecture)}";
        Console.WriteLine($"exported {objective} model {checkpointPath} to {Out} ({layout}, {dtype!.Value.ToString().ToLowerInvariant()}, {source.Config.Vocabulary.Name} vocabulary)");
        return ExitCodes.Success;
    }
}
