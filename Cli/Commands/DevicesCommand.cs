using System.Text.Json;
using CommandLine;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Cli.Commands;

[Verb("devices", HelpText = "List the Vulkan devices with what each can do (the banner to quote in bug reports).")]
public sealed class DevicesCommand : ICommand
{
    [Option("json", HelpText = "Print the devices as a JSON array.")]
    public bool Json { get; set; }

    public int Run()
    {
        using var instance = new VulkanInstance(VulkanInstance.ValidationRequestedByEnvironment);
        var devices = DeviceSelector.Enumerate(instance);
        if (devices.Count == 0) throw VulkanInstance.NoDeviceError("the loader found no physical device");
        if (Json)
        {
            Console.WriteLine(JsonSerializer.Serialize(devices.Select(d => d.Info), JsonOptions.Indented));
            return ExitCodes.Success;
        }
        var chosen = DeviceSelector.Select(devices, null);
        foreach (var (_, info) in devices)
        {
            Console.WriteLine((info.Index == chosen.Info.Index ? "* " : "  ") + info.Banner);
            foreach (DeviceQuirk quirk in DeviceQuirks.For(info))
                Console.WriteLine($"    quirk: {quirk.Description}: {quirk.SwitchText} unless set ({quirk.Reference})");
        }
        Console.WriteLine("(* = the device vkdiff uses by default; choose another with --device or VKDIFF_DEVICE)");
        return ExitCodes.Success;
    }
}
