using System.Security.Cryptography;
using System.Text.Json;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Data;
using VkDiffusion.Tests.Distributed;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Tests.Windows;

/// <summary>
/// The Windows build, as a user gets it (the win-x64 single-file release), under wine on lavapipe: every step of the
/// README's path works, with Windows paths (drive letters, spaces), and gives the Linux build's tokens and losses bit for
/// bit. About 2.5 minutes on two busy cores, publish and a fresh wine prefix included.
/// </summary>
public sealed class WineSmokeTests
{
    private static readonly string[] TinyRun =
        ["--model", "tiny", "--unique-tokens", "8192", "--seq-len", "32", "--batch", "4", "--eval-every", "16", "--eval-batches", "2", "--eval-mc", "2"];
    private static readonly string[] ComparedMetrics = ["step", "train_loss", "val_loss", "grad_norm"];

    [WineFact]
    public async Task The_windows_build_runs_the_readme_path_under_wine_with_the_linux_builds_tokens_and_losses()
    {
        using WineSession wine = WineSession.Start();
        string root = wine.Work.File("dir with space");
        Directory.CreateDirectory(root);
        string Windows(string name) => WineSession.WindowsPath(Path.Combine(root, name));
        string Linux(string name) => Path.Combine(root, name);

        var devices = wine.RunVkdiff("devices");
        AssertSucceeded(devices, "devices");
        Assert.Contains("llvmpipe", devices.Output);
        // A few checks, not all 259 cases: the full self-test passes under wine too, but takes minutes on lavapipe.
        var selftest = wine.RunVkdiff("selftest", "--filter", "fill,cross_entropy,adamw,mdm_corrupt");
        AssertSucceeded(selftest, "selftest");
        Assert.Contains("selftest passed", selftest.Output);

        // The default corpus: the shipped excerpt, the same tokens as on Linux. The lock beside --out must be gone (the
        // bug this build had: deleting it while held was a sharing violation, exit 11).
        AssertSucceeded(wine.RunVkdiff("prepare", "--tokenizer", "bytes", "--out", Windows("default")), "prepare");
        Assert.Equal(DefaultCorpusTests.ByteTrain.Sha256, Sha256(Path.Combine(Linux("default"), "train.bin")));
        Assert.Equal(DefaultCorpusTests.ByteVal.Sha256, Sha256(Path.Combine(Linux("default"), "val.bin")));
        Assert.Equal(["default"], Directory.EnumerateFileSystemEntries(root).Select(Path.GetFileName));

        // --force never deletes an input inside --out, however the case of its path is written (Windows ignores case).
        File.WriteAllText(Path.Combine(Linux("default"), "inside.txt"), "a document\n");
        var inside = wine.RunVkdiff("prepare", "--input", Windows("DEFAULT\\inside.txt"), "--tokenizer", "bytes", "--out", Windows("default"), "--force");
        Assert.True(inside.ExitCode == ExitCodes.InvalidInput, $"exit {inside.ExitCode}, stderr: {inside.Error}");
        Assert.Contains("would delete the input", inside.Error);
        File.Delete(Path.Combine(Linux("default"), "inside.txt"));

        // --input with a drive letter and spaces, GPT-2 tokens: the same files as the Linux build's.
        Directory.CreateDirectory(Linux("my corpus"));
        File.WriteAllText(Path.Combine(Linux("my corpus"), "notes.txt"),
            "Première note: naïve café.\r\n\r\nSecond document, with Windows line endings.\r\n\r\nThird one — the last.\r\n");
        AssertSucceeded(wine.RunVkdiff("prepare", "--input", Windows("my corpus"), "--tokenizer", "gpt2", "--val-docs", "1", "--out", Windows("mine-windows")), "prepare --input");
        AssertSucceeded(VkdiffWorker.Run(null, "prepare", "--input", Linux("my corpus"), "--tokenizer", "gpt2", "--val-docs", "1", "--out", Linux("mine-linux")), "Linux prepare");
        foreach (string file in new[] { "train.bin", "val.bin", "train.docs.bin", "val.docs.bin" })
            Assert.Equal(Sha256(Path.Combine(Linux("mine-linux"), file)), Sha256(Path.Combine(Linux("mine-windows"), file)));

        // A corpus that is not there, on a drive that is not there: one line, exit 7, nothing written.
        foreach (string missing in new[] { Windows("no such dir\\a.txt"), "Q:\\corpus\\a.txt" })
        {
            var refused = wine.RunVkdiff("prepare", "--input", missing, "--tokenizer", "bytes", "--out", Windows("refused"));
            Assert.True(refused.ExitCode == ExitCodes.InvalidInput, $"prepare --input {missing}: exit {refused.ExitCode}, stderr: {refused.Error}");
            Assert.Single(refused.Error.Trim().Split('\n'));
            Assert.False(Directory.Exists(Linux("refused")));
        }

        // AR straight through; MDM stopped by Ctrl+C (wine turns SIGINT into CTRL_C_EVENT) and resumed; both equal Linux's.
        AssertSucceeded(wine.RunVkdiff(["train", "--objective", "ar", .. TinyRun, "--epochs", "1", "--data", Windows("default"), "--out", Windows("ar-windows")]), "train ar");
        AssertSucceeded(VkdiffWorker.Run(null, ["train", "--objective", "ar", .. TinyRun, "--epochs", "1", "--data", Linux("default"), "--out", Linux("ar-linux")]), "Linux train ar");
        AssertSameMetrics(Linux("ar-linux"), Linux("ar-windows"));

        using (VkdiffWorker stopped = wine.StartVkdiff(["train", "--objective", "mdm", .. TinyRun, "--epochs", "2", "--data", Windows("default"), "--out", Windows("mdm-windows")]))
        {
            await stopped.LineStartingWith("step");
            stopped.Signal("INT");
            var interrupted = stopped.WaitForExit();
            Assert.True(interrupted.ExitCode == ExitCodes.Interrupted, $"exit {interrupted.ExitCode} after Ctrl+C, stderr: {interrupted.Error}");
            Assert.Contains("interrupted at step", interrupted.Output);
        }
        AssertSucceeded(wine.RunVkdiff("train", "--resume", Windows("mdm-windows")), "train --resume");
        AssertSucceeded(VkdiffWorker.Run(null, ["train", "--objective", "mdm", .. TinyRun, "--epochs", "2", "--data", Linux("default"), "--out", Linux("mdm-linux")]), "Linux train mdm");
        AssertSameMetrics(Linux("mdm-linux"), Linux("mdm-windows"));

        // A sweep: its claim lock, results.csv and its lock, result.json written through a rename; the same losses as on Linux.
        foreach (var (name, dataPath) in new[] { ("sweep-windows", Windows("default")), ("sweep-linux", Linux("default")) })
            File.WriteAllText(Linux(name + ".json"), JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["data"] = dataPath, ["objectives"] = new[] { "ar" }, ["presets"] = new[] { "tiny" }, ["unique_tokens"] = new[] { 4096 },
                ["epochs"] = new[] { 1 }, ["sequence_length"] = 32, ["batch_size"] = 4, ["eval_windows"] = 2, ["eval_monte_carlo"] = 2,
            }));
        AssertSucceeded(wine.RunVkdiff("sweep", "--spec", Windows("sweep-windows.json"), "--out", Windows("sweep-windows")), "sweep");
        var status = wine.RunVkdiff("sweep", "--spec", Windows("sweep-windows.json"), "--out", Windows("sweep-windows"), "--status");
        AssertSucceeded(status, "sweep --status");
        Assert.Contains("1 done, 0 running, 0 pending", status.Output);
        AssertSucceeded(VkdiffWorker.Run(null, "sweep", "--spec", Linux("sweep-linux.json"), "--out", Linux("sweep-linux")), "Linux sweep");
        Assert.Equal(SweepLosses(Linux("sweep-linux")), SweepLosses(Linux("sweep-windows")));

        foreach (string objective in new[] { "ar", "mdm" })
        {
            string[] eval = ["eval", "--mc", "2", "--max-windows", "4"];
            AssertSucceeded(wine.RunVkdiff([.. eval, "--run", Windows($"{objective}-windows"), "--data", Windows("default"), "--out", Windows($"{objective}-windows.json")]), $"eval {objective}");
            AssertSucceeded(VkdiffWorker.Run(null, [.. eval, "--run", Linux($"{objective}-linux"), "--data", Linux("default"), "--out", Linux($"{objective}-linux.json")]), $"Linux eval {objective}");
            Assert.Equal(Loss(Linux($"{objective}-linux.json")), Loss(Linux($"{objective}-windows.json")));
        }

        // The README's third line for Windows, at a tiny budget: the quickstart prepares the default corpus itself.
        var quickstart = wine.RunVkdiff("quickstart", "--out", Windows("quickstart"), "--unique-tokens", "2048", "--epochs", "1", "--seq-len", "32", "--batch", "4");
        AssertSucceeded(quickstart, "quickstart");
        Assert.Contains("family | best val loss", quickstart.Output);
        Assert.Equal(DefaultCorpusTests.ByteVal.Sha256, Sha256(Path.Combine(Linux("quickstart"), "data", "val.bin")));
    }

    private static void AssertSucceeded((int ExitCode, string Output, string Error) result, string what) =>
        Assert.True(result.ExitCode == 0, $"{what}: exit {result.ExitCode}\nstdout: {result.Output}\nstderr: {result.Error}");

    /// <summary>Every logged step's losses and gradient norm, bit for bit (timings and the host's learning-rate double are not compared).</summary>
    private static void AssertSameMetrics(string expectedRun, string actualRun)
    {
        static List<string> Read(string run) => [.. File.ReadLines(Path.Combine(run, TrainingRun.MetricsFile)).Select(line =>
        {
            using var record = JsonDocument.Parse(line);
            return string.Join(' ', ComparedMetrics.Select(name => record.RootElement.GetProperty(name).GetRawText()));
        })];
        List<string> expected = Read(expectedRun);
        Assert.True(expected.Count >= 5, $"{expectedRun} logged {expected.Count} steps");
        Assert.Equal(expected, Read(actualRun));
    }

    /// <summary>Each run's final and best validation loss, from its result.json.</summary>
    private static List<(double Final, double Best)> SweepLosses(string sweep) => [.. Directory.GetFiles(Path.Combine(sweep, "runs"), "result.json", SearchOption.AllDirectories)
        .Select(path =>
        {
            using var result = JsonDocument.Parse(File.ReadAllText(path));
            return (result.RootElement.GetProperty("final_val_loss").GetDouble(), result.RootElement.GetProperty("best_val_loss").GetDouble());
        })];

    private static double Loss(string evalJson)
    {
        using var result = JsonDocument.Parse(File.ReadAllText(evalJson));
        return result.RootElement.GetProperty("loss").GetDouble();
    }

    private static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));
}
