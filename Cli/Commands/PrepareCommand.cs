using CommandLine;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Data;

namespace VkDiffusion.Cli.Commands;

[Verb("prepare", HelpText = "Tokenize a corpus into a token directory (train.bin, val.bin, meta.json) for training.")]
public sealed class PrepareCommand : ICommand
{
    [Option("input", HelpText = "Input files or directories: .txt (documents separated by blank lines), .jsonl (a \"text\" field per line), " +
        ".dict/.dict.dz (dictd). Directories are read recursively in sorted order. Default: the shipped GCIDE excerpt (docs/data.md), its last 500 entries the validation split.")]
    public IEnumerable<string> Inputs { get; set; } = [];

    [Option("tokenizer", Default = "gpt2", HelpText = "gpt2 (50257 ids, padded to 50304), bytes (UTF-8 bytes, padded to 320) or bpeN: " +
        "a byte-level BPE of N ids (258..65535) learned from the training documents, e.g. bpe1024 for small models (its ranks are kept in the dataset).")]
    public string Tokenizer { get; set; } = "gpt2";

    [Option("out", Required = true, HelpText = "Output directory (created; must not exist or be empty unless --force).")]
    public string Output { get; set; } = "";

    [Option("val-docs", HelpText = "The last N documents form the validation split.")]
    public int? ValidationDocuments { get; set; }

    [Option("val-fraction", HelpText = "The last fraction F of the documents form the validation split (default 0.01).")]
    public double? ValidationFraction { get; set; }

    [Option("force", HelpText = "Replace an existing output directory once the new one is complete.")]
    public bool Force { get; set; }

    public int Run()
    {
        using var interruption = new Interruption("prepare: stopping; nothing of the new dataset is kept...");
        if (!Tokenizers.IsKnown(Tokenizer))
            throw new VkDiffusionException($"--tokenizer {Tokenizer} is not one of: {Tokenizers.Choices}; see vkdiff prepare --help", ExitCodes.Usage);
        var inputs = Inputs.ToList();
        if (inputs.Count == 0) Console.Error.WriteLine($"prepare: no --input given; using the default corpus {DefaultCorpus.RequirePath()}");
        DatasetMeta meta = CorpusPreparer.Prepare(new PrepareOptions
        {
            Inputs = inputs,
            Tokenizer = Tokenizer,
            OutputDirectory = Output,
            ValidationDocuments = ValidationDocuments,
            ValidationFraction = ValidationFraction,
            Overwrite = Force,
        }, Console.Error, interruption.Token);
        Console.WriteLine($"{Path.GetFullPath(Output)}: tokenizer {meta.Tokenizer} (vocab {meta.VocabSize}, padded {meta.PaddedVocabSize}), {meta.TokenDtype}");
        Console.WriteLine($"  train: {meta.Train.TokenCount:N0} tokens in {meta.Train.DocumentCount:N0} documents");
        Console.WriteLine($"  val:   {meta.Val.TokenCount:N0} tokens in {meta.Val.DocumentCount:N0} documents ({meta.ValidationRule})");
        return ExitCodes.Success;
    }
}
