namespace VkDiffusion.Cli;

/// <summary>Turns the first Ctrl-C into a cancellation the training loop honours (it saves and exits); a second one kills the process.</summary>
public sealed class Interruption : IDisposable
{
    private readonly CancellationTokenSource source = new();

    public Interruption() => Console.CancelKeyPress += OnCancel;

    public CancellationToken Token => source.Token;

    private void OnCancel(object? sender, ConsoleCancelEventArgs e)
    {
        if (source.IsCancellationRequested) return;
        e.Cancel = true;
        Console.Error.WriteLine("vkdiff: stopping after the current step (Ctrl-C again to kill)...");
        source.Cancel();
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancel;
        source.Dispose();
    }
}
