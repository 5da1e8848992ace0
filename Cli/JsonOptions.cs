using System.Text.Json;

namespace VkDiffusion.Cli;

internal static class JsonOptions
{
    public static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
}
