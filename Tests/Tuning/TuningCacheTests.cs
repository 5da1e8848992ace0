using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Trainer.Tuning;

namespace VkDiffusion.Tests.Tuning;

/// <summary>The tuning cache file: what it holds for, what it ignores, and how shapes share results.</summary>
public sealed class TuningCacheTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "vkdiff-tuning-" + Guid.NewGuid().ToString("N"));
    private string CachePath => Path.Combine(directory, "tuning-device.json");

    private static readonly TuningIdentity Here = new("Some GPU", 0x1002, 0x744c, "radv Mesa 25.0.7", "0.1.0+abc", "0123456789abcdef");

    private static TuningEntry Entry(string shape, params (string Variable, string Value)[] settings) =>
        new(shape, settings.ToDictionary(s => s.Variable, s => s.Value), ["matmul", "attention", "memory"], Complete: true, 10, 8, 3,
            new DateTime(2026, 12, 6, 3, 0, 0, DateTimeKind.Utc), [new TuningTrial("matmul", new Dictionary<string, string> { ["VKDIFF_MATMUL"] = "tiled" }, 8, null)]);

    [Fact]
    public void A_saved_cache_reads_back_for_the_same_identity_and_a_new_entry_replaces_its_shapes_old_one()
    {
        var cache = new TuningCache(TuningCache.CurrentFormat, Here, [Entry("a", ("VKDIFF_MATMUL", "tiled")), Entry("b")]);
        cache.With(Entry("a", ("VKDIFF_MATMUL", "register"))).Save(CachePath);

        TuningCache.Loaded loaded = TuningCache.Load(CachePath, Here);
        Assert.Null(loaded.Ignored);
        Assert.NotNull(loaded.Cache);
        Assert.Equal(2, loaded.Cache.Entries.Count);
        TuningEntry a = Assert.Single(loaded.Cache.Entries, e => e.Shape == "a");
        Assert.Equal("register", a.Settings["VKDIFF_MATMUL"]);
        Assert.Equal(8, a.TunedMilliseconds);
        Assert.Equal(8, Assert.Single(a.Trials).Milliseconds);
        Assert.Equal([Path.GetFileName(CachePath)], Directory.GetFiles(directory).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData("driver", "tuned under driver radv Mesa 25.0.7")]
    [InlineData("vkdiff", "tuned by vkdiff 0.1.0+abc")]
    [InlineData("shaders", "tuned for kernels 0123456789abcdef")]
    [InlineData("device", "tuned on Some GPU")]
    public void A_cache_made_under_another_driver_vkdiff_kernel_build_or_device_is_ignored_naming_which(string changed, string expected)
    {
        new TuningCache(TuningCache.CurrentFormat, Here, [Entry("a", ("VKDIFF_MATMUL", "tiled"))]).Save(CachePath);
        TuningIdentity now = changed switch
        {
            "driver" => Here with { Driver = "radv Mesa 25.1.0" },
            "vkdiff" => Here with { Vkdiff = "0.2.0+def" },
            "shaders" => Here with { Shaders = "fedcba9876543210" },
            _ => Here with { Device = "Another GPU", DeviceId = 0x73bf },
        };
        TuningCache.Loaded loaded = TuningCache.Load(CachePath, now);
        Assert.Null(loaded.Cache);
        Assert.Contains(expected, loaded.Ignored);
    }

    [Theory]
    [InlineData("{ not json")]
    [InlineData("{\"format\": 1}")]
    [InlineData("")]
    public void A_corrupt_cache_is_ignored_with_a_reason_and_no_file_is_no_reason(string content)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(CachePath, content);
        TuningCache.Loaded loaded = TuningCache.Load(CachePath, Here);
        Assert.Null(loaded.Cache);
        Assert.False(string.IsNullOrEmpty(loaded.Ignored));

        Assert.Equal(new TuningCache.Loaded(null, null), TuningCache.Load(Path.Combine(directory, "absent.json"), Here));
    }

    [Fact]
    public void Shapes_share_a_result_across_layer_counts_and_rounded_lengths_but_not_across_precision_objective_or_width()
    {
        ModelConfig tiny = ModelPresets.Get("tiny", VocabularySpec.Bytes);
        string bucket = TuningShape.For(tiny, Objective.Mdm, 256, 8, Precision.Fp32).Bucket;
        Assert.Equal(bucket, TuningShape.For(tiny with { Layers = tiny.Layers + 4 }, Objective.Mdm, 256, 8, Precision.Fp32).Bucket);
        Assert.Equal(bucket, TuningShape.For(tiny, Objective.Mdm, 250, 7, Precision.Fp32).Bucket);
        Assert.NotEqual(bucket, TuningShape.For(tiny, Objective.Mdm, 257, 8, Precision.Fp32).Bucket);
        Assert.NotEqual(bucket, TuningShape.For(tiny, Objective.Ar, 256, 8, Precision.Fp32).Bucket);
        Assert.NotEqual(bucket, TuningShape.For(tiny, Objective.Mdm, 256, 8, Precision.Bf16).Bucket);
        Assert.NotEqual(bucket, TuningShape.For(tiny with { ModelDim = tiny.ModelDim * 2 }, Objective.Mdm, 256, 8, Precision.Fp32).Bucket);
        Assert.Equal($"mdm-d{tiny.ModelDim}-h{tiny.Heads}x{tiny.HeadDim}-ff{tiny.HiddenDim}-v{tiny.Vocabulary.PaddedSize}-T256-B8-fp32", bucket);
    }

    public void Dispose()
    {
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
    }
}
