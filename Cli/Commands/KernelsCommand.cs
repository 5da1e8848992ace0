using System.Text.Json;
using CommandLine;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Porting;

namespace VkDiffusion.Cli.Commands;

[Verb("kernels", HelpText = "Build every pipeline vkdiff would use on a device, without running or allocating anything, and print what the " +
    "driver says of each (registers, spills, occupancy where it reports them). Works on RADV's null hardware (docs/porting.md).")]
public sealed class KernelsCommand : ICommand
{
    [Option("device", HelpText = "Device index or name substring (default: VKDIFF_DEVICE, else the best device). See `vkdiff devices`.")]
    public string? Device { get; set; }

    [Option("json", HelpText = "Print one JSON object: the device, every pipeline with its configurations, its error or all of its statistics.")]
    public bool Json { get; set; }

    [Option("filter", HelpText = "Build only the pipelines whose kernel name contains this text, or one of several comma-separated texts (e.g. attention,matmul_tiled).")]
    public string? Filter { get; set; }

    [Option("vocabulary", Separator = ',', HelpText = "Also record these vocabularies (bytes, gpt2, bpeN; comma-separated), e.g. the learned BPE you train with: " +
        "the matmuls' blocking and split-K depend on the vocabulary's size, so one of another size than those recorded by default may use pipelines they do not.")]
    public IEnumerable<string> Vocabularies { get; set; } = [];

    /// <summary>The child's side of <see cref="IsolatedPipelineBuilds"/>: build the kernels named on standard input.</summary>
    [Option("build-stdin", Hidden = true)]
    public bool BuildStandardInput { get; set; }

    public int Run()
    {
        if (BuildStandardInput) return IsolatedPipelineBuilds.Serve(Device, Console.In, Console.Out);
        using GpuContext context = GpuContext.CreateCompileOnly(Device);
        Inventory inventory = KernelInventory.Enumerate(context, [.. Vocabularies.Select(VocabularySpec.ByName)]);
        string[] filters = (Filter ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        List<InventoryEntry> selected = [.. inventory.Entries.Where(entry => filters.Length == 0 || filters.Any(f => entry.Kernel.Name.Contains(f, StringComparison.Ordinal)))];
        if (selected.Count == 0)
            throw new InvalidInputException($"--filter {Filter} matches none of the {inventory.Entries.Count} pipelines vkdiff uses on {context.Info.Name}.");
        IReadOnlyList<PipelineBuild> builds = IsolatedPipelineBuilds.Build(Device, [.. selected.Select(entry => entry.Kernel)]);
        var report = new KernelReport(context.Info, context.PipelineStatisticsEnabled, inventory, [.. selected.Zip(builds)]);
        if (Json) Console.WriteLine(JsonSerializer.Serialize(report.ToJson(), JsonOptions.Report));
        else report.WriteTable(Console.Out);
        return report.FailedCount == 0 ? ExitCodes.Success : ExitCodes.SelfTestFailed;
    }
}
