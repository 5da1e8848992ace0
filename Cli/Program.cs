using System.Reflection;
using CommandLine;
using VkDiffusion.Cli;
using VkDiffusion.Runtime.Vulkan;

// Every verb is a class in Cli/Commands with a [Verb] attribute implementing ICommand.
Type[] verbs = typeof(ICommand).Assembly.GetTypes()
    .Where(type => type.GetCustomAttribute<VerbAttribute>() is not null && typeof(ICommand).IsAssignableFrom(type))
    .OrderBy(type => type.Name)
    .ToArray();
using var parser = new Parser(settings =>
{
    settings.HelpWriter = Console.Error;
    settings.CaseInsensitiveEnumValues = true;
});
return parser.ParseArguments(args, verbs).MapResult(
    (ICommand command) => CommandRunner.Run(command),
    errors => errors.Any(e => e.Tag is ErrorType.HelpRequestedError or ErrorType.HelpVerbRequestedError or ErrorType.VersionRequestedError)
        ? ExitCodes.Success
        : ExitCodes.Usage);
