using System.Runtime.InteropServices;

namespace VkDiffusion.Cli;

/// <summary>Ends the process at once with an exit code, running no exit handlers, finalizers or library destructors.</summary>
internal static partial class ImmediateExit
{
    public static void Now(int exitCode)
    {
        if (OperatingSystem.IsWindows()) TerminateProcess(GetCurrentProcess(), (uint)exitCode);
        else ExitWithoutHandlers(exitCode);
    }

    [LibraryImport("libc", EntryPoint = "_exit")]
    private static partial void ExitWithoutHandlers(int status);

    [LibraryImport("kernel32.dll")]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static partial bool TerminateProcess(nint process, uint exitCode);

    [LibraryImport("kernel32.dll")]
    private static partial nint GetCurrentProcess();
}
