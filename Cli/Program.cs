using System.Reflection;
using CommandLine;
using VkDiffusion.Cli;

// Every verb is a class in Cli/Commands with a [Verb] attribute implementing ICommand.
Type[] verbs = typeof(ICommand).Assembly.GetTypes()
    .Where(type => type.GetCustomAttribute<VerbAttribute>() is not null && typeof(ICommand).IsAssignableFrom(type))
    .OrderBy(type => type.Name)
    .ToArray();
using var parser = new Parser(settings =>
{
    settings.HelpWriter = null;
    settings.CaseInsensitiveEnumValues = true;
});
ParserResult<object> parsed = parser.ParseArguments(args, verbs);
return parsed.MapResult(
    (ICommand command) => CommandRunner.Run(command),
    errors => UsageErrors.Report(parsed, errors, Console.Error));
