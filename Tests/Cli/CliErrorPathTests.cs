using System.Diagnostics;
using System.Globalization;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Runtime;
using VkDiffusion.Trainer.Data;

namespace VkDiffusion.Tests.Cli;

/// <summary>Every documented user-error path of the training verbs exits with its code and one clear line (docs/cli.md).</summary>
public sealed class CliErrorPathTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("vkdiff-cli-").FullName;
    private static readonly Dictionary<string, string> Lavapipe = new() { ["VK_DRIVER_FILES"] = Infrastructure.GpuFixture.LavapipeIcd };

    private string Data()
    {
        string text = Path.Combine(root, "corpus.txt");
        File.WriteAllText(text, string.Join("\n\n", Enumerable.Range(0, 40).Select(i => $"document number {i} with a few words")));
        string data = Path.Combine(root, "data");
        CorpusPreparer.Prepare(new PrepareOptions { Inputs = [text], Tokenizer = "bytes", OutputDirectory = data, ValidationDocuments = 5 });
        return data;
    }

    private static void AssertInvalidInput((int ExitCode, string StandardOutput, string StandardError) result, string expectedText)
    {
        Assert.True(result.ExitCode == ExitCodes.InvalidInput, $"exit code {result.ExitCode}, stderr: {result.StandardError}");
        Assert.Contains(expectedText, result.StandardError);
        Assert.DoesNotContain("   at ", result.StandardError);
    }

    [Fact]
    public void Train_refuses_a_missing_dataset_an_oversized_budget_and_a_directory_without_a_run()
    {
        AssertInvalidInput(CliErrorTests.RunVkdiff(Lavapipe, "train", "--unique-tokens", "1000", "--out", Path.Combine(root, "r")), "--data");
        AssertInvalidInput(CliErrorTests.RunVkdiff(Lavapipe, "train", "--data", Path.Combine(root, "nowhere"), "--unique-tokens", "1000",
            "--out", Path.Combine(root, "r")), "nowhere");
        string data = Data();
        AssertInvalidInput(CliErrorTests.RunVkdiff(Lavapipe, "train", "--data", data, "--unique-tokens", "100000000", "--out", Path.Combine(root, "r")),
            "exceeds");
        AssertInvalidInput(CliErrorTests.RunVkdiff(Lavapipe, "train", "--resume", root), "config.json");
        // A submit-ahead switch that is neither 0 nor 1 is refused before the run directory is made.
        var badSwitch = new Dictionary<string, string>(Lavapipe) { ["VKDIFF_SUBMIT_AHEAD"] = "yes" };
        AssertInvalidInput(CliErrorTests.RunVkdiff(badSwitch, "train", "--data", data, "--unique-tokens", "1000", "--out", Path.Combine(root, "switch")),
            "VKDIFF_SUBMIT_AHEAD=yes is not a setting");
        Assert.False(Directory.Exists(Path.Combine(root, "switch")));
        AssertInvalidInput(CliErrorTests.RunVkdiff(Lavapipe, "train", "--data", data, "--unique-tokens", "1000", "--model", "huge",
            "--out", Path.Combine(root, "r")), "unknown model preset");
    }

    [Fact]
    public void Checkpoint_verbs_refuse_missing_and_corrupt_checkpoints_and_bad_task_files()
    {
        string data = Data();
        AssertInvalidInput(CliErrorTests.RunVkdiff(Lavapipe, "eval", "--checkpoint", Path.Combine(root, "none.safetensors"), "--data", data), "does not exist");
        string corrupt = Path.Combine(root, "corrupt.safetensors");
        File.WriteAllBytes(corrupt, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        AssertInvalidInput(CliErrorTests.RunVkdiff(Lavapipe, "sample", "--checkpoint", corrupt, "--length", "4"), corrupt);
        string tasks = Path.Combine(root, "tasks.jsonl");
        File.WriteAllText(tasks, "{\"context\": \"a\", \"choices\": [\"b\"], \"answer\": 0}\n");
        AssertInvalidInput(CliErrorTests.RunVkdiff(Lavapipe, "score", "--checkpoint", corrupt, "--tasks", tasks), "tasks.jsonl:1");
        AssertInvalidInput(CliErrorTests.RunVkdiff(Lavapipe, "sweep", "--spec", Path.Combine(root, "none.json"), "--out", root), "does not exist");
    }

    [Fact]
    public async Task Sigterm_stops_training_like_ctrl_c_and_saves_a_checkpoint()
    {
        string data = Data();
        string run = Path.Combine(root, "run");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in new[] { Path.Combine(AppContext.BaseDirectory, "vkdiff.dll"), "train", "--objective", "ar", "--model", "tiny",
            "--data", data, "--unique-tokens", "1000", "--epochs", "200", "--seq-len", "16", "--batch", "2", "--eval-every", "100000", "--out", run })
            start.ArgumentList.Add(argument);
        start.Environment["VK_DRIVER_FILES"] = Infrastructure.GpuFixture.LavapipeIcd;
        using Process process = Process.Start(start)!;
        Task<string> errors = process.StandardError.ReadToEndAsync();
        // The first metrics line means training is under way; then the scheduler's SIGTERM arrives.
        while (await process.StandardOutput.ReadLineAsync() is string line && !line.StartsWith("step", StringComparison.Ordinal)) { }
        await Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)])!.WaitForExitAsync();
        using var patience = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync(patience.Token);
        string stderr = await errors;

        Assert.True(process.ExitCode == ExitCodes.Interrupted, $"exit code {process.ExitCode}, stderr: {stderr}");
        Assert.True(File.Exists(Trainer.Training.TrainingRun.LastCheckpoint(run)));
        Assert.DoesNotContain("   at ", stderr);
    }

    public void Dispose() => Directory.Delete(root, recursive: true);
}
