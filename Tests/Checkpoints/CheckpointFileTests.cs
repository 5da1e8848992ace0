using VkDiffusion.Model;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Trainer.Checkpoints;

namespace VkDiffusion.Tests.Checkpoints;

public sealed class CheckpointFileTests
{
    private static IReadOnlyList<SafeTensorEntry> Checkpoint(float value) =>
    [
        SafeTensorEntry.FromArray(ModelParameters.Embedding, new[] { value, value + 1 }, 1, 2),
        SafeTensorEntry.FromArray(ModelParameters.FirstMoment(ModelParameters.Embedding), new[] { -value, 0f }, 1, 2),
    ];

    private static float[] LoadEmbedding(string path)
    {
        using var file = CheckpointFile.Open(path);
        return file.Read<float>(ModelParameters.Embedding);
    }

    [Fact]
    public void Write_replaces_the_previous_checkpoint_and_leaves_no_temporary_file()
    {
        using var temp = new TemporaryDirectory();
        string path = temp.File("checkpoints/latest.safetensors");
        CheckpointFile.Write(path, Checkpoint(1), new Dictionary<string, string> { [CheckpointMetadataKeys.Step] = "1" });
        CheckpointFile.Write(path, Checkpoint(2), new Dictionary<string, string> { [CheckpointMetadataKeys.Step] = "2" });
        Assert.Equal([2f, 3f], LoadEmbedding(path));
        using (var file = CheckpointFile.Open(path)) Assert.Equal("2", file.Metadata[CheckpointMetadataKeys.Step]);
        Assert.Equal(["latest.safetensors"], Directory.GetFiles(temp.File("checkpoints")).Select(Path.GetFileName));
    }

    [Fact]
    public void A_crash_between_the_temporary_write_and_the_rename_leaves_the_previous_checkpoint_loadable()
    {
        using var temp = new TemporaryDirectory();
        string path = temp.File("latest.safetensors");
        CheckpointFile.Write(path, Checkpoint(1));
        long completeTemporaryLength = 0;

        var crash = Assert.Throws<IOException>(() => CheckpointFile.Write(path, Checkpoint(2), null, beforeRename: temporaryPath =>
        {
            completeTemporaryLength = new FileInfo(temporaryPath).Length;
            throw new IOException("simulated crash before rename");
        }));
        Assert.Equal("simulated crash before rename", crash.Message);
        Assert.True(completeTemporaryLength > 0, "the new checkpoint was fully written to the temporary file first");
        Assert.Equal([1f, 2f], LoadEmbedding(path));
    }

    [Fact]
    public void A_torn_temporary_file_from_a_killed_process_is_ignored_and_replaced()
    {
        using var temp = new TemporaryDirectory();
        string path = temp.File("latest.safetensors");
        CheckpointFile.Write(path, Checkpoint(1));
        // What a process killed mid-write leaves: a partial temporary file next to the intact checkpoint.
        byte[] full = File.ReadAllBytes(path);
        File.WriteAllBytes(CheckpointFile.TemporaryPathFor(path), full[..(full.Length / 2)]);

        Assert.Equal([1f, 2f], LoadEmbedding(path));
        CheckpointFile.Write(path, Checkpoint(5));
        Assert.Equal([5f, 6f], LoadEmbedding(path));
        Assert.False(File.Exists(CheckpointFile.TemporaryPathFor(path)));
    }

    [Fact]
    public void Tensor_names_are_the_documented_llama_style_names()
    {
        Assert.Equal("model.layers.3.self_attn.qkv_proj.weight", ModelParameters.QkvProjection(3));
        Assert.Equal("model.layers.0.mlp.gate_up_proj.weight", ModelParameters.GateUpProjection(0));
        Assert.Equal("optimizer.exp_avg_sq.model.norm.weight", ModelParameters.SecondMoment(ModelParameters.FinalNorm));
        var names = ModelParameters.Specs(ModelPresets.Get("tiny", VocabularySpec.Bytes)).Select(s => s.Name).ToList();
        Assert.Equal(2 + 2 * 6, names.Count);
        Assert.Equal(names.Count, names.Distinct().Count());
    }
}
