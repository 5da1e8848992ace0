using System.Runtime.InteropServices;

namespace VkDiffusion.Cli;

/// <summary>
/// Turns the first Ctrl-C (SIGINT), SIGTERM or (on Linux) SIGUSR1 into a cancellation the work honours (training saves and
/// exits 9); a second signal takes its default action and kills the process. SIGTERM counts because it is what Slurm,
/// Kubernetes and systemd send before they kill a job. SIGUSR1 counts because Open MPI's mpirun forwards it to the ranks
/// and then exits with their exit code, where after a SIGTERM of its own mpirun exits 1 whatever the ranks return.
/// </summary>
public sealed class Interruption : IDisposable
{
    private readonly CancellationTokenSource source = new();
    /// <summary>Printed at the first signal; null on the MPI ranks other than 0, so a job says it once.</summary>
    private readonly string? stoppingMessage;
    private readonly PosixSignalRegistration[] registrations;

    // .NET names no SIGUSR1 but registers raw signal numbers; 10 is Linux's.
    private const PosixSignal LinuxSigUsr1 = (PosixSignal)10;

    public const string StoppingAfterStep = "vkdiff: stopping after the current step (Ctrl-C again to kill)...";

    public Interruption(string? stoppingMessage = StoppingAfterStep)
    {
        this.stoppingMessage = stoppingMessage;
        PosixSignal[] signals = OperatingSystem.IsLinux() ? [PosixSignal.SIGINT, PosixSignal.SIGTERM, LinuxSigUsr1] : [PosixSignal.SIGINT, PosixSignal.SIGTERM];
        registrations = [.. signals.Select(signal => PosixSignalRegistration.Create(signal, OnSignal))];
    }

    public CancellationToken Token => source.Token;

    private void OnSignal(PosixSignalContext context)
    {
        if (source.IsCancellationRequested) return;
        context.Cancel = true;
        if (stoppingMessage is not null) Console.Error.WriteLine(stoppingMessage);
        source.Cancel();
    }

    public void Dispose()
    {
        foreach (PosixSignalRegistration registration in registrations) registration.Dispose();
        source.Dispose();
    }
}
