namespace VkDiffusion.Cli;

/// <summary>A `vkdiff` verb: its options are its properties, Run returns the exit code.</summary>
public interface ICommand
{
    int Run();
}
