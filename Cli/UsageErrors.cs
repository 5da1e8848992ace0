using System.Reflection;
using CommandLine;
using CommandLine.Text;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Cli;

/// <summary>
/// What the parser reports when it runs no verb: the help or version that was asked for, or else one line naming
/// the first bad argument and where the options are listed (the full help would bury the line that matters).
/// </summary>
public static class UsageErrors
{
    public static int Report(ParserResult<object> result, IEnumerable<Error> errors, TextWriter output)
    {
        List<Error> all = errors.ToList();
        if (all.Any(e => e.Tag == ErrorType.VersionRequestedError))
        {
            output.WriteLine(HeadingInfo.Default);
            return ExitCodes.Success;
        }
        if (all.Any(e => e.Tag is ErrorType.HelpRequestedError or ErrorType.HelpVerbRequestedError or ErrorType.NoVerbSelectedError))
        {
            output.WriteLine(HelpText.AutoBuild(result, help => help, example => example));
            return all.Any(e => e.Tag == ErrorType.NoVerbSelectedError) ? ExitCodes.Usage : ExitCodes.Success;
        }
        string? verb = result.TypeInfo.Current.GetCustomAttribute<VerbAttribute>()?.Name;
        string message = SentenceBuilder.Create().FormatError(all[0]);
        output.WriteLine($"vkdiff: {message.TrimEnd('.')}; see vkdiff {(verb is null ? "" : verb + " ")}--help");
        return ExitCodes.Usage;
    }
}
