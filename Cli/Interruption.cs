using System.Runtime.InteropServices;

namespace VkDiffusion.Cli;

/// <summary>
/// Turns the first Ctrl-C (SIGINT) or SIGTERM into a cancellation the work honours (training saves and exits 9);
/// a second signal takes its default action and kills the process. SIGTERM counts because it is what Slurm,
/// Kubernetes and systemd send before they kill a job.
/// </summary>
public sealed class Interruption : IDisposable
{
    private readonly CancellationTokenSource source = new();
    /// <summary>Printed at the first signal; null on the MPI ranks other than 0, so a job says it once.</summary>
    private readonly string? stoppingMessage;
    private readonly PosixSignalRegistration[] registrations;

    public const string StoppingAfterStep = "vkdiff: stopping after the current step (Ctrl-C again to kill)...";

    public Interruption(string? stoppingMessage = StoppingAfterStep)
    {
        this.stoppingMessage = stoppingMessage;
        registrations = [PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal), PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal)];
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
