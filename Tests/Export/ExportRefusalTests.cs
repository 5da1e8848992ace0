using VkDiffusion.Model;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Tests.Runtime;
using VkDiffusion.Trainer.Checkpoints;

namespace VkDiffusion.Tests.Export;

/// <summary>`vkdiff export` and `import` on bad input: one line, the documented exit code, nothing written.</summary>
public sealed class ExportRefusalTests : IDisposable
{
    private readonly TemporaryDirectory directory = new();

    private static void AssertOneLine(int expectedExitCode, (int ExitCode, string StandardOutput, string StandardError) result, string expectedText)
    {
        Assert.True(result.ExitCode == expectedExitCode, $"exit code {result.ExitCode}, stderr: {result.StandardError}");
        Assert.Single(result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(expectedText, result.StandardError);
    }

    private (int, string, string) Export(string checkpoint, string output, params string[] extra) =>
        CliErrorTests.RunVkdiff(null, ["export", "--checkpoint", checkpoint, "--out", output, .. extra]);

    /// <summary>The checkpoint with its metadata or tensors changed, written as vkdiff writes files.</summary>
    private string Rewrite(string checkpoint, string name, Func<Dictionary<string, string>, Dictionary<string, string>> metadata, string? extraTensor = null)
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(checkpoint);
        var entries = file.Tensors.Keys.Select(tensor => SafeTensorEntry.FromArray(tensor, file.Read<float>(tensor), [.. file.Info(tensor).Shape])).ToList();
        if (extraTensor is not null) entries.Add(SafeTensorEntry.FromArray(extraTensor, new float[32], 32));
        string path = directory.File(name);
        CheckpointFile.Write(path, entries, metadata(file.Metadata.ToDictionary()));
        return path;
    }

    [Fact]
    public void An_unknown_format_or_dtype_is_a_usage_error()
    {
        string checkpoint = ExportTestModels.Write(directory.File("ar.safetensors"), Objective.Ar);
        AssertOneLine(ExitCodes.Usage, Export(checkpoint, directory.File("m.onnx"), "--format", "onnx"), "--format");
        AssertOneLine(ExitCodes.Usage, Export(checkpoint, directory.File("m.gguf"), "--format", "gguf", "--dtype", "q4_0"), "--dtype");
        Assert.Empty(Directory.GetFiles(directory.Path, "m.*"));
    }

    [Fact]
    public void An_existing_output_is_replaced_only_with_force()
    {
        string checkpoint = ExportTestModels.Write(directory.File("ar.safetensors"), Objective.Ar);
        string gguf = directory.Write("model.gguf", "keep me");
        AssertOneLine(ExitCodes.InvalidInput, Export(checkpoint, gguf, "--format", "gguf"), "--force");
        Assert.Equal("keep me", File.ReadAllText(gguf));
        var (exitCode, _, error) = Export(checkpoint, gguf, "--format", "gguf", "--force");
        Assert.True(exitCode == 0, error);
        Assert.Equal("GGUF"u8.ToArray(), File.ReadAllBytes(gguf)[..4]);

        string hf = directory.File("hf");
        Directory.CreateDirectory(hf);
        AssertOneLine(ExitCodes.InvalidInput, Export(checkpoint, hf, "--format", "hf"), "--force");
        Assert.Empty(Directory.GetFileSystemEntries(hf));
        string imported = directory.Write("imported.safetensors", "keep me");
        Assert.Equal(0, Export(checkpoint, hf, "--format", "hf", "--force").Item1);
        AssertOneLine(ExitCodes.InvalidInput, CliErrorTests.RunVkdiff(null, "import", "--hf", hf, "--out", imported), "--force");
        Assert.Equal("keep me", File.ReadAllText(imported));
    }

    [Fact]
    public void A_checkpoint_from_a_newer_vkdiff_with_an_unknown_tensor_or_a_bad_checksum_is_refused()
    {
        string checkpoint = ExportTestModels.Write(directory.File("mdm.safetensors"), Objective.Mdm);
        string newer = Rewrite(checkpoint, "newer.safetensors", metadata => { metadata[CheckpointMetadataKeys.FormatVersion] = "2"; return metadata; });
        AssertOneLine(ExitCodes.InvalidInput, Export(newer, directory.File("newer.gguf"), "--format", "gguf"), "format version 2");
        string unknown = Rewrite(checkpoint, "unknown.safetensors", metadata => metadata, extraTensor: "model.layers.0.self_attn.q_norm.weight");
        AssertOneLine(ExitCodes.InvalidInput, Export(unknown, directory.File("unknown.gguf"), "--format", "gguf"), "model.layers.0.self_attn.q_norm.weight");

        // Flip one bit of the last weight (the final norm's last element) behind the checksum's back.
        string corrupt = directory.File("corrupt.safetensors");
        byte[] bytes = File.ReadAllBytes(checkpoint);
        bytes[^2] ^= 0x01;
        File.WriteAllBytes(corrupt, bytes);
        AssertOneLine(ExitCodes.InvalidInput, Export(corrupt, directory.File("corrupt"), "--format", "hf"), "checksum");
        Assert.DoesNotContain(Directory.GetFileSystemEntries(directory.Path), path => !path.EndsWith(".safetensors", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("gguf")]
    [InlineData("hf")]
    public void A_weight_beyond_f16_is_refused_and_nothing_is_written(string format)
    {
        // 1e5 is finite in f32 and bf16 but beyond f16's largest value, 65504.
        string checkpoint = ExportTestModels.Write(directory.File("large.safetensors"), Objective.Ar,
            edit: parameters => parameters[ModelParameters.DownProjection(1)][5] = 1e5f);
        string output = directory.File("large-out");
        AssertOneLine(ExitCodes.InvalidInput, Export(checkpoint, output, "--format", format, "--dtype", "f16"), "mlp.down_proj.weight");
        Assert.Equal([checkpoint], Directory.GetFileSystemEntries(directory.Path));
        Assert.Equal(0, Export(checkpoint, output, "--format", format, "--dtype", "bf16").Item1);
    }

    [Fact]
    public void Import_refuses_a_directory_vkdiff_cannot_run()
    {
        string checkpoint = ExportTestModels.Write(directory.File("ar.safetensors"), Objective.Ar);
        string hf = directory.File("hf");
        Assert.Equal(0, Export(checkpoint, hf, "--format", "hf").Item1);
        string config = Path.Combine(hf, "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 1"));
        AssertOneLine(ExitCodes.InvalidInput, CliErrorTests.RunVkdiff(null, "import", "--hf", hf, "--out", directory.File("gqa.safetensors")), "grouped-query");
        AssertOneLine(ExitCodes.InvalidInput, CliErrorTests.RunVkdiff(null, "import", "--hf", directory.File("none"), "--out", directory.File("none.safetensors")), "does not exist");
    }

    public void Dispose() => directory.Dispose();
}
