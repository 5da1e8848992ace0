using CommandLine;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Data;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Cli.Commands;

[Verb("sample", HelpText = "Generate text: AR token by token; MDM from all-masked positions, unmasking some each step (--order).")]
public sealed class SampleCommand : ICommand
{
    [Option("checkpoint", Required = true, HelpText = "A checkpoint file.")]
    public string Checkpoint { get; set; } = "";

    [Option("prompt", Default = "", HelpText = "Text the sample continues.")]
    public string Prompt { get; set; } = "";

    [Option("length", Default = 128, HelpText = "Tokens to generate.")]
    public int Length { get; set; }

    [Option("steps", HelpText = "MDM: unmasking steps (default: one token per step).")]
    public int? Steps { get; set; }

    [Option("temperature", Default = 1.0f, HelpText = "Sampling temperature; 0 is greedy.")]
    public float Temperature { get; set; }

    [Option("top-k", Default = 0, HelpText = "Sample among the k most likely tokens (0: all).")]
    public int TopK { get; set; }

    [Option("order", Default = "confidence", HelpText = "MDM: which masked positions each step reveals: confidence (the most confident), random (a random subset, the standard MDM sampler), remask (low-confidence remasking: the least confident so far are masked again).")]
    public string Order { get; set; } = "confidence";

    [Option("seed", Default = 0, HelpText = "Sampling seed.")]
    public int Seed { get; set; }

    [Option("precision", HelpText = PrecisionFlag.HelpText)]
    public string? Precision { get; set; }

    [Option("device", HelpText = "Vulkan device index or name substring.")]
    public string? Device { get; set; }

    public int Run()
    {
        OptionRange.Require(Length >= 1, "sample", "length", ">= 1", Length);
        OptionRange.Require(Steps is null or >= 1, "sample", "steps", ">= 1", Steps!);
        OptionRange.Require(float.IsFinite(Temperature) && Temperature >= 0, "sample", "temperature", "finite and >= 0 (0 is greedy)", Temperature);
        OptionRange.Require(TopK >= 0, "sample", "top-k", ">= 0 (0: all tokens)", TopK);
        UnmaskingOrder? order = Order.ToLowerInvariant() switch
        {
            "confidence" => UnmaskingOrder.Confidence,
            "random" => UnmaskingOrder.Random,
            "remask" => UnmaskingOrder.Remask,
            _ => null,
        };
        OptionRange.Require(order is not null, "sample", "order", "confidence, random or remask", Order);
        PrecisionFlag.Check(Precision, "sample");
        using RunCheckpoint.Loaded checkpoint = RunCheckpoint.Open(Checkpoint);
        ITokenizer tokenizer = checkpoint.CreateTokenizer();
        uint[] prompt = tokenizer.Encode(Prompt).Select(id => (uint)id).ToArray();
        var options = new SamplingOptions(Length, Steps ?? Length, Temperature, TopK, Seed, order!.Value);
        using GpuContext context = GpuContext.Create(Device);
        var precision = PrecisionFlag.Resolve(Precision, "sample", context);
        Console.Write(Prompt);
        if (checkpoint.Objective == Objective.Ar)
        {
            int length = Math.Max(1, prompt.Length) + Length - 1;
            using TransformerSession session = Open(context, checkpoint, length, precision);
            // Bytes of one UTF-8 character arrive one token at a time: print only what decodes completely.
            var pending = new List<int>();
            Sampler.SampleAutoregressive(session, prompt, options, token =>
            {
                pending.Add((int)token);
                string text = tokenizer.Decode(pending.ToArray());
                if (text.EndsWith('\uFFFD') && pending.Count < 4) return;
                Console.Write(text);
                pending.Clear();
            });
            if (pending.Count > 0) Console.Write(tokenizer.Decode(pending.ToArray()));
        }
        else
        {
            using TransformerSession session = Open(context, checkpoint, prompt.Length + Length, precision);
            bool interactive = !Console.IsOutputRedirected;
            uint[] result = Sampler.SampleMaskedDiffusion(session, prompt, options, state =>
            {
                if (!interactive) return;
                string partial = tokenizer.Decode(state.Skip(prompt.Length).Select(id => (int)id).ToArray()).Replace(Tokenizers.MaskMarker, "_");
                Console.Write("\r" + Prompt + partial.Replace('\n', ' '));
            });
            string text = tokenizer.Decode(result.Select(id => (int)id).ToArray());
            Console.Write(interactive ? "\r" + Prompt + text : text);
        }
        Console.WriteLine();
        return ExitCodes.Success;
    }

    private static TransformerSession Open(GpuContext context, RunCheckpoint.Loaded checkpoint, int sequenceLength, Precision precision)
    {
        var session = new TransformerSession(context, TransformerGraph.Build(checkpoint.Config, checkpoint.Objective, GraphMode.Logits, 1, sequenceLength, context.Info,
            precision: precision));
        session.LoadParameters(checkpoint.ReadParameters());
        return session;
    }
}
