using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Trainer.Experiments;
using VkDiffusion.Trainer.Data;

namespace VkDiffusion.Tests.Training;

public sealed class SweepTests(GpuFixture fixture) : GpuTest(fixture), IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("vkdiff-sweep-").FullName;

    [Fact]
    public void An_interrupted_sweep_skips_finished_runs_and_completes_the_rest()
    {
        SweepSpec spec = TinySweeps.Spec(root, uniqueTokens: 1500, sequenceLength: 32, epochs: [1, 2], tokenOrders: [2]);
        string output = Path.Combine(root, "sweep");
        Assert.Equal(6, Sweep.Expand(spec).Count); // (mdm, ar, ar with 2 orders) x 2 epoch counts

        // Stop the sweep during its third run, as Ctrl-C would.
        using var cancellation = new CancellationTokenSource();
        var log = new CancelOnLine("[3/6]", cancellation);
        Assert.Throws<OperationCanceledException>(() => Sweep.Run(Context, spec, SweepShard.Whole, output, log, cancellation.Token));
        Assert.Equal(2, ResultsTable.Read(Path.Combine(output, Sweep.ResultsFile)).Count);

        var restartLog = new StringWriter();
        IReadOnlyList<RunResult> results = Sweep.Run(Context, spec, SweepShard.Whole, output, restartLog, CancellationToken.None);
        Assert.Contains("[1/6] mdm-tiny-U1500-E1: done before, skipped", restartLog.ToString());
        Assert.Contains("[2/6] ar-tiny-U1500-E1: done before, skipped", restartLog.ToString());
        Assert.Equal(6, results.Count);
        var table = ResultsTable.Read(Path.Combine(output, Sweep.ResultsFile));
        Assert.Equal(6, table.Count);
        Assert.Equal(["ar", "ar", "ar_orders2", "ar_orders2", "mdm", "mdm"], table.Select(r => r.Objective).Order());
        Assert.All(table, row => Assert.True(double.IsFinite(row.BestValLoss) && row.Flops > 0));
        // Each row names its dataset and vocabulary, so `vkdiff fit` can refuse a file that mixes them.
        string fingerprint;
        using (var dataset = TokenDataset.Open(spec.Data)) fingerprint = dataset.Meta.Fingerprint();
        Assert.Matches("^[0-9a-f]{64}$", fingerprint);
        Assert.All(table, row => Assert.Equal((fingerprint, "bytes"), (row.Dataset, row.Vocabulary)));
        string otherText = Path.Combine(root, "other.txt"), otherData = Path.Combine(root, "other");
        File.WriteAllText(otherText, File.ReadAllText(Path.Combine(root, "corpus.txt")) + "\n\nentry 80: one more");
        CorpusPreparer.Prepare(new PrepareOptions { Inputs = [otherText], Tokenizer = "bytes", OutputDirectory = otherData, ValidationDocuments = 10 });
        using (var other = TokenDataset.Open(otherData)) Assert.NotEqual(fingerprint, other.Meta.Fingerprint());
        Assert.True(File.Exists(Path.Combine(output, "loss_vs_epochs_U1500.png")));
    }

    private sealed class CancelOnLine(string marker, CancellationTokenSource cancellation) : StringWriter
    {
        public override void WriteLine(string? value)
        {
            if (value is not null && value.StartsWith(marker, StringComparison.Ordinal)) cancellation.Cancel();
            base.WriteLine(value);
        }
    }

    void IDisposable.Dispose()
    {
        Dispose();
        Directory.Delete(root, recursive: true);
    }
}
