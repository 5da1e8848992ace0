using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Porting;

namespace VkDiffusion.Cli.Commands;

/// <summary>What `vkdiff kernels` found: each pipeline built on the device, as a table or as JSON (schema in docs/cli.md).</summary>
internal sealed class KernelReport(DeviceInfo device, bool statisticsOffered, Inventory inventory, IReadOnlyList<(InventoryEntry Entry, PipelineBuild Build)> pipelines)
{
    /// <summary>
    /// The statistics the table shows, as RADV names them; a driver that reports none of these gets its own first few
    /// (all of them are in --json).
    /// </summary>
    private static readonly string[] TableStatistics =
        ["VGPRs", "SGPRs", "Spilled VGPRs", "Spilled SGPRs", "Scratch size", "LDS size", "Subgroups per SIMD", "Latency", "Inverse Throughput"];
    private const int OtherDriversColumns = 6;

    public int FailedCount => pipelines.Count(p => !p.Build.Compiled);

    public object ToJson() => new
    {
        device,
        statisticsOffered,
        configurations = inventory.ConfigurationCount,
        vocabularies = inventory.Vocabularies,
        notRecordable = inventory.Gaps.Select(gap => new { configuration = gap.Use.ToString(), reason = gap.Reason }),
        compiled = pipelines.Count - FailedCount,
        failed = FailedCount,
        pipelines = pipelines.Select(p => new
        {
            pipeline = p.Build.Kernel.ToString(),
            kernel = p.Build.Kernel.Name,
            specialization = p.Build.Kernel.Specialization,
            compiled = p.Build.Compiled,
            error = p.Build.Error,
            requiredSubgroupSize = p.Build.RequiredSubgroupSize,
            usedBy = KernelUsage.Of(p.Entry.Uses),
            executables = p.Build.Executables.Select(e => new
            {
                e.Name,
                e.Description,
                e.SubgroupSize,
                statistics = e.Statistics.Select(s => new { s.Name, s.Description, s.Value }),
            }),
        }),
    };

    public void WriteTable(TextWriter output)
    {
        output.WriteLine($"device: {device.Banner}");
        output.WriteLine(statisticsOffered
            ? "statistics: the driver's own (VK_KHR_pipeline_executable_properties), named as it names them"
            : "statistics: none (the driver does not offer VK_KHR_pipeline_executable_properties)");
        output.WriteLine($"{inventory.Entries.Count} pipelines from {inventory.ConfigurationCount} configurations (every preset, " +
            $"vocabularies {string.Join(',', inventory.Vocabularies)}, both objectives, every precision and path this device supports)");
        foreach (var model in inventory.Gaps.GroupBy(gap => (gap.Use.Preset, gap.Use.Vocabulary)))
            output.WriteLine($"not recordable on this device: {model.Key.Preset} {model.Key.Vocabulary} ({model.Count()} configurations), e.g. " +
                $"{model.First().Use}: {model.First().Reason}");

        string[] columns = Columns();
        var rows = pipelines.Select(p => (Pipeline: p.Build.Kernel.ToString(), Status: p.Build.Compiled ? "ok" : "FAILED",
            Values: columns.Select(name => p.Build.Executables.FirstOrDefault()?.Find(name)?.Text ?? "-").ToArray(),
            Usage: KernelUsage.Of(p.Entry.Uses).Summary(inventory.Vocabularies), p.Build.Error)).ToList();
        int pipelineWidth = Math.Max("pipeline".Length, rows.Max(r => r.Pipeline.Length));
        int[] widths = [.. columns.Select((name, i) => Math.Max(name.Length, rows.Max(r => r.Values[i].Length)))];
        output.WriteLine($"{"pipeline".PadRight(pipelineWidth)}  status  {string.Join("  ", columns.Select((c, i) => c.PadLeft(widths[i])))}  used by");
        foreach (var row in rows)
        {
            output.WriteLine($"{row.Pipeline.PadRight(pipelineWidth)}  {row.Status,-6}  {string.Join("  ", row.Values.Select((v, i) => v.PadLeft(widths[i])))}  {row.Usage}");
            if (row.Error is not null) output.WriteLine($"    {row.Error}");
        }
        output.WriteLine(FailedCount == 0
            ? $"kernels: all {pipelines.Count} pipelines compiled"
            : $"kernels FAILED: {FailedCount} of {pipelines.Count} pipelines did not compile (see docs/porting.md for what to report)");
    }

    private string[] Columns()
    {
        var reported = pipelines.SelectMany(p => p.Build.Executables.Take(1)).SelectMany(e => e.Statistics).Select(s => s.Name).Distinct().ToList();
        string[] known = [.. TableStatistics.Where(name => reported.Contains(name, StringComparer.OrdinalIgnoreCase))];
        return known.Length > 0 ? known : [.. reported.Take(OtherDriversColumns)];
    }
}
