using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using CommandLine;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Files;
using VkDiffusion.Trainer.Tuning;

namespace VkDiffusion.Cli.Commands;

[Verb("report", HelpText = "Write one file to attach to a bug report or a port: devices, the self-test, every pipeline's build, a short " +
    "kernel benchmark and the versions of vkdiff, driver, loader and OS; and a Markdown summary beside it (docs/porting.md).")]
public sealed class ReportCommand : ICommand
{
    [Option("out", Required = true, HelpText = "The report file (JSON); the summary goes beside it with the extension .md.")]
    public string Out { get; set; } = "";

    [Option("device", HelpText = "Device index or name substring (default: VKDIFF_DEVICE, else the best device). See `vkdiff devices`.")]
    public string? Device { get; set; }

    [Option("filter", HelpText = "Only the self-test checks, pipelines and benchmark cases whose names contain this text (comma-separated for several).")]
    public string? Filter { get; set; }

    [Option("vocabulary", Separator = ',', HelpText = "Also record these vocabularies in the pipeline build (bytes, gpt2, bpeN; comma-separated), " +
        "as `vkdiff kernels --vocabulary` does: the learned BPE you train with.")]
    public IEnumerable<string> Vocabularies { get; set; } = [];

    // Each part runs in a child vkdiff, so a driver that crashes or hangs in one costs that part only.
    private static readonly TimeSpan SelfTestDeadline = TimeSpan.FromMinutes(30), KernelsDeadline = TimeSpan.FromMinutes(30),
        BenchDeadline = TimeSpan.FromMinutes(10);

    public int Run()
    {
        string jsonPath = Path.GetFullPath(Out), summaryPath = Path.ChangeExtension(jsonPath, ".md");
        Directory.CreateDirectory(Path.GetDirectoryName(jsonPath)!);
        var devices = ReadDevices();
        string[] device = Device is null ? [] : ["--device", Device];
        string[] filter = Filter is null ? [] : ["--filter", Filter];

        Console.Error.WriteLine("report: selftest --isolate ...");
        ReportPart selfTest = RunPart("selftest", ["selftest", "--isolate", "--json", .. device, .. filter], SelfTestDeadline);
        Console.Error.WriteLine("report: kernels ...");
        string[] vocabularies = Vocabularies.Any() ? ["--vocabulary", string.Join(',', Vocabularies)] : [];
        ReportPart kernels = RunPart("kernels", ["kernels", "--json", .. device, .. filter, .. vocabularies], KernelsDeadline);
        Console.Error.WriteLine("report: bench kernels --quick ...");
        ReportPart bench = RunPart("bench", ["bench", "kernels", "--quick", "--json", .. device, .. filter], BenchDeadline);

        var report = new JsonObject
        {
            ["vkdiff"] = VkdiffVersion,
            ["os"] = RuntimeInformation.OSDescription,
            ["architecture"] = RuntimeInformation.OSArchitecture.ToString(),
            ["dotnet"] = RuntimeInformation.FrameworkDescription,
            ["vulkanLoader"] = devices.LoaderVersion,
            ["devices"] = devices.Json,
            ["quirks"] = devices.Quirks,
            ["tunerCache"] = devices.TunerCaches,
            ["selftest"] = selfTest.ToJson(),
            ["kernels"] = kernels.ToJson(),
            ["bench"] = bench.ToJson(),
        };
        AtomicFile.WriteAllText(jsonPath, Redaction.Scrub(report.ToJsonString(JsonOptions.Report)));
        AtomicFile.WriteAllText(summaryPath, Redaction.Scrub(ReportSummary.Write(report)));
        Console.WriteLine($"report: {Path.GetFileName(jsonPath)} and its summary {Path.GetFileName(summaryPath)} in {Path.GetDirectoryName(jsonPath)}");
        Console.WriteLine("Attach both to the bug report; neither holds a path, host name or environment variable of this machine.");
        return ExitCodes.Success;
    }

    private static string VkdiffVersion =>
        typeof(ReportCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    private sealed record DeviceList(JsonNode? Json, JsonArray Quirks, JsonArray TunerCaches, string LoaderVersion);

    private static unsafe DeviceList ReadDevices()
    {
        using var instance = new VulkanInstance(enableValidation: false);
        uint version = 0;
        instance.Api.EnumerateInstanceVersion(&version);
        var devices = DeviceSelector.Enumerate(instance).Select(d => d.Info).ToList();
        var quirks = new JsonArray([.. devices.SelectMany(info => DeviceQuirks.For(info).Select(quirk => (JsonNode)new JsonObject
        {
            ["device"] = info.Index,
            ["quirk"] = quirk.Description,
            ["switches"] = quirk.SwitchText,
            ["reference"] = quirk.Reference,
        }))]);
        // `vkdiff tune`'s results per device, as the runs here would use them (or why they would not).
        var tunerCaches = new JsonArray([.. devices.Select(info =>
        {
            TuningCache.Loaded loaded = TuningCache.Load(TuningCache.PathFor(info), TuningIdentity.For(info));
            return (JsonNode)new JsonObject
            {
                ["device"] = info.Index,
                ["ignored"] = loaded.Ignored,
                ["cache"] = loaded.Cache is null ? null : JsonNode.Parse(loaded.Cache.ToJson()),
            };
        })]);
        return new DeviceList(JsonSerializer.SerializeToNode(devices, JsonOptions.Report), quirks, tunerCaches,
            $"{version >> 22}.{(version >> 12) & 0x3ff}.{version & 0xfff}");
    }

    private static ReportPart RunPart(string name, string[] arguments, TimeSpan deadline)
    {
        VkdiffProcess.Outcome outcome = VkdiffProcess.Run(arguments, deadline);
        return new ReportPart(name, string.Join(' ', arguments), outcome.ExitCode, outcome.TimedOut, outcome.Output, outcome.Errors);
    }
}
