using System.Diagnostics;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Tests.Runtime;
using VkDiffusion.Trainer.Checkpoints;
using VkDiffusion.Trainer.Data;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Tests.Cli;

/// <summary>
/// kill -9 at arbitrary moments (with a checkpoint written every step, many land inside a checkpoint or metrics
/// write), then resume: the final weights and optimizer state equal an uninterrupted run's. Where the kills land
/// varies from run to run; the assertion holds for every moment.
/// </summary>
public sealed class FaultInjectionTests
{
    private static readonly Dictionary<string, string> Lavapipe = new() { ["VK_DRIVER_FILES"] = GpuFixture.LavapipeIcd };

    private static string[] Train(string data, string run) =>
        ["train", "--objective", "ar", "--model", "tiny", "--data", data, "--unique-tokens", "1000", "--epochs", "3",
         "--seq-len", "16", "--batch", "2", "--save-every", "1", "--eval-every", "20", "--out", run];

    /// <summary>Starts vkdiff; <paramref name="training"/> completes at its first metrics line (training under way) or its exit.</summary>
    private static Process Start(string[] arguments, TaskCompletionSource training)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "vkdiff.dll"));
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        foreach (var (name, value) in Lavapipe) start.Environment[name] = value;
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, line) =>
        {
            if (line.Data is null || line.Data.StartsWith("step", StringComparison.Ordinal)) training.TrySetResult();
        };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    [Fact]
    public async Task Training_killed_at_random_moments_resumes_to_the_uninterrupted_runs_weights()
    {
        using var temp = new TemporaryDirectory();
        string corpus = temp.Write("corpus.txt", string.Join("\n\n", Enumerable.Range(0, 60).Select(i => $"document {i}: some words, then a few more words")));
        string data = temp.File("data");
        CorpusPreparer.Prepare(new PrepareOptions { Inputs = [corpus], Tokenizer = "bytes", OutputDirectory = data, ValidationDocuments = 5 });
        string reference = temp.File("reference"), killed = temp.File("killed");
        Assert.Equal(ExitCodes.Success, CliErrorTests.RunVkdiff(Lavapipe, Train(data, reference)).ExitCode);

        var random = new Random(13);
        for (int kill = 0; kill < 3; kill++)
        {
            var training = new TaskCompletionSource();
            using Process process = Start(kill == 0 ? Train(data, killed) : ["train", "--resume", killed], training);
            await training.Task;
            Task exited = process.WaitForExitAsync();
            if (await Task.WhenAny(exited, Task.Delay(random.Next(0, 1500))) == exited) break;
            process.Kill();
            await exited;
        }
        var (exitCode, _, errors) = CliErrorTests.RunVkdiff(Lavapipe, "train", "--resume", killed);
        Assert.True(exitCode == ExitCodes.Success, $"exit code {exitCode}: {errors}");

        using SafeTensorsFile expected = SafeTensorsFile.Open(TrainingRun.LastCheckpoint(reference));
        using SafeTensorsFile actual = SafeTensorsFile.Open(TrainingRun.LastCheckpoint(killed));
        Assert.Equal(expected.Tensors.Keys.Order(), actual.Tensors.Keys.Order());
        foreach (string name in expected.Tensors.Keys)
            Assert.True(expected.Read<float>(name).SequenceEqual(actual.Read<float>(name)), $"{name} differs from the uninterrupted run's");
        Assert.Equal(MetricsLog.Read(Path.Combine(reference, TrainingRun.MetricsFile)).Select(r => r.TrainLoss),
            MetricsLog.Read(Path.Combine(killed, TrainingRun.MetricsFile)).Select(r => r.TrainLoss));
    }
}
