using System.Runtime.InteropServices;

namespace VkDiffusion.Cli;

/// <summary>
/// Turns the first stop request into a cancellation the work honours (training saves and exits 9); a second one takes
/// its default action and kills the process. On Linux and macOS the requests are Ctrl-C (SIGINT) and SIGTERM, and on
/// Linux SIGUSR1: SIGTERM counts because it is what Slurm, Kubernetes and systemd send before they kill a job; SIGUSR1
/// because Open MPI's mpirun forwards it to the ranks and then exits with their exit code, where after a SIGTERM of
/// its own mpirun exits 1 whatever the ranks return. On Windows .NET maps the console's control events onto the same
/// names: Ctrl+C (SIGINT), Ctrl+Break (SIGQUIT), closing the console window (SIGHUP) and a system shutdown (SIGTERM).
/// </summary>
public sealed class Interruption : IDisposable
{
    private readonly CancellationTokenSource source = new();
    /// <summary>Printed at the first signal; null on the MPI ranks other than 0, so a job says it once.</summary>
    private readonly string? stoppingMessage;
    private readonly PosixSignalRegistration[] registrations;
    /// <summary>Set once the work has returned (after its last save), which a Windows close or shutdown waits for.</summary>
    private readonly ManualResetEventSlim workFinished = new();

    // .NET names no SIGUSR1 but registers raw signal numbers; 10 is Linux's.
    private const PosixSignal LinuxSigUsr1 = (PosixSignal)10;

    // Windows ends a process as soon as its handler for a console close or a shutdown returns (and after ~5 s of
    // closing, or ~20 s of shutting down, even if it has not), so that handler waits for the work to save and return.
    private static readonly TimeSpan WindowsCloseGrace = TimeSpan.FromSeconds(20);

    public const string StoppingAfterStep = "vkdiff: stopping after the current step (Ctrl-C again to kill)...";

    public Interruption(string? stoppingMessage = StoppingAfterStep)
    {
        this.stoppingMessage = stoppingMessage;
        PosixSignal[] signals = OperatingSystem.IsWindows() ? [PosixSignal.SIGINT, PosixSignal.SIGQUIT, PosixSignal.SIGHUP, PosixSignal.SIGTERM]
            : OperatingSystem.IsLinux() ? [PosixSignal.SIGINT, PosixSignal.SIGTERM, LinuxSigUsr1]
            : [PosixSignal.SIGINT, PosixSignal.SIGTERM];
        registrations = [.. signals.Select(signal => PosixSignalRegistration.Create(signal, OnSignal))];
    }

    public CancellationToken Token => source.Token;

    private void OnSignal(PosixSignalContext context)
    {
        bool first = !source.IsCancellationRequested;
        if (first)
        {
            context.Cancel = true;
            if (stoppingMessage is not null) Console.Error.WriteLine(stoppingMessage);
            source.Cancel();
        }
        if (OperatingSystem.IsWindows() && context.Signal is PosixSignal.SIGHUP or PosixSignal.SIGTERM)
            workFinished.Wait(WindowsCloseGrace);
    }

    public void Dispose()
    {
        workFinished.Set();
        foreach (PosixSignalRegistration registration in registrations) registration.Dispose();
        source.Dispose();
    }
}
