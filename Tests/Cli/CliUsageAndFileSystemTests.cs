using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Tests.Runtime;

namespace VkDiffusion.Tests.Cli;

/// <summary>Bad arguments and unusable paths end in one line on stderr with their documented exit code (docs/cli.md), never a trace or the whole help.</summary>
public sealed class CliUsageAndFileSystemTests
{
    private static void AssertOneLine((int ExitCode, string StandardOutput, string StandardError) result, int exitCode, string expectedText)
    {
        Assert.True(result.ExitCode == exitCode, $"exit code {result.ExitCode}, stderr: {result.StandardError}");
        Assert.Contains(expectedText, result.StandardError);
        Assert.Single(result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void A_bad_option_value_is_one_line_pointing_to_the_verbs_help()
    {
        AssertOneLine(CliErrorTests.RunVkdiff(null, "train", "--lr", "fast"), ExitCodes.Usage, "see vkdiff train --help");
        AssertOneLine(CliErrorTests.RunVkdiff(null, "train", "--lr", "1", "--lr", "2"), ExitCodes.Usage, "'lr'");
        AssertOneLine(CliErrorTests.RunVkdiff(null, "prepare", "--tokenizer", "foo", "--out", "unused"), ExitCodes.Usage, "see vkdiff prepare --help");
    }

    [Theory]
    [InlineData("eval --mc 0 --checkpoint c --data d", "--mc must be >= 1, got 0")]
    [InlineData("eval --seq-len -5 --checkpoint c --data d", "--seq-len must be in [2, 2048], got -5")]
    [InlineData("eval --max-windows 0 --checkpoint c --data d", "--max-windows must be >= 1")]
    [InlineData("score --mc 0 --checkpoint c --tasks t", "--mc must be >= 1, got 0")]
    [InlineData("sample --steps 0 --checkpoint c", "--steps must be >= 1")]
    [InlineData("sample --temperature NaN --checkpoint c", "--temperature must be finite")]
    [InlineData("sample --temperature -1 --checkpoint c", "--temperature must be finite")]
    [InlineData("sample --top-k -3 --checkpoint c", "--top-k must be >= 0")]
    [InlineData("train --resume r --epochs 5", "--epochs cannot change with --resume")]
    [InlineData("train --model tiny --heads 8 --out r", "--model tiny is a preset")]
    [InlineData("train --precision fp17 --out r", "--precision must be fp32, fp16, bf16 or auto, got fp17; see vkdiff train --help")]
    [InlineData("train --resume r --precision bf16", "--precision cannot change with --resume")]
    [InlineData("eval --precision half --checkpoint c --data d", "--precision must be fp32, fp16, bf16 or auto, got half")]
    [InlineData("score --precision tf32 --checkpoint c --tasks t", "--precision must be fp32, fp16, bf16 or auto, got tf32")]
    [InlineData("sample --precision int8 --checkpoint c", "--precision must be fp32, fp16, bf16 or auto, got int8")]
    [InlineData("bench step --precision fp8", "--precision must be fp32, fp16, bf16 or auto, got fp8; see vkdiff bench --help")]
    public void A_numeric_option_outside_its_range_is_refused_before_any_work(string commandLine, string expected) =>
        AssertOneLine(CliErrorTests.RunVkdiff(null, commandLine.Split(' ')), ExitCodes.Usage, expected);

    [Fact]
    public void A_token_budget_beyond_double_range_is_refused() =>
        AssertOneLine(CliErrorTests.RunVkdiff(null, "crossover", "--paper", "--unique-tokens", "1e400"), ExitCodes.InvalidInput, "'1e400'");

    [Fact]
    public void A_driver_manifest_of_garbage_is_no_device_not_out_of_memory()
    {
        using var temp = new TemporaryDirectory();
        string manifest = temp.Write("garbage.json", "garbage{{");
        AssertOneLine(CliErrorTests.RunVkdiff(new Dictionary<string, string> { ["VK_DRIVER_FILES"] = manifest, ["VK_ICD_FILENAMES"] = manifest }, "devices"),
            ExitCodes.NoDevice, "VK_DRIVER_FILES");
    }

    [Fact]
    public void An_output_path_under_a_file_is_a_file_system_error_naming_the_file()
    {
        using var temp = new TemporaryDirectory();
        string corpus = temp.Write("corpus.txt", "one\n\ntwo\n");
        AssertOneLine(CliErrorTests.RunVkdiff(null, "prepare", "--input", corpus, "--tokenizer", "bytes", "--out", Path.Combine(corpus, "data")),
            ExitCodes.FileSystem, $"{corpus} is a file");
        Assert.Equal("one\n\ntwo\n", File.ReadAllText(corpus));
    }
}
