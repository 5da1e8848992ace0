using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Trainer.Tuning;

namespace VkDiffusion.Tests.Tuning;

/// <summary>On lavapipe: which switch values the tuner tries there, and how a cached result reaches the dispatchers.</summary>
public sealed class TunedKernelsTests(GpuFixture fixture) : GpuTest(fixture), IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "vkdiff-tuned-" + Guid.NewGuid().ToString("N"));
    private string CachePath => Path.Combine(directory, "tuning.json");
    private static readonly ModelConfig Tiny = ModelPresets.Get("tiny", VocabularySpec.Bytes);
    private static readonly TuningShape Shape = TuningShape.For(Tiny, Objective.Mdm, 64, 4, Precision.Fp32);

    private void SaveCache(TuningIdentity identity, IReadOnlyDictionary<string, string> settings) =>
        new TuningCache(TuningCache.CurrentFormat, identity,
            [new TuningEntry(Shape.Bucket, settings, ["matmul", "attention", "memory"], true, 12.0, 10.0, 3, new DateTime(2026, 12, 6, 0, 0, 0, DateTimeKind.Utc), [])])
            .Save(CachePath);

    [Fact]
    public void The_tuner_tries_only_values_that_change_lavapipes_kernels()
    {
        var space = new DeviceTuningSpace(Context, Shape);
        var none = new Dictionary<string, string>();
        // lavapipe's defaults: texel matmuls, 8 rows per invocation, no staging, texel loads, 8-wide workgroups, CPU layout.
        Assert.Equal(["register", "tiled"], space.Candidates(MatmulKernels.PathVariable, none));
        Assert.Equal(["small", "large"], space.Candidates(MatmulKernels.BlocksVariable, none));
        // No cooperative matrices in an fp32 run, so no tile to choose.
        Assert.Empty(space.Candidates(MatmulKernels.CooperativeTileVariable, none));
        // Split rows exist at head dims 64 and 128 only (tiny's is 16).
        Assert.Empty(space.Candidates(AttentionBlocks.SplitVariable, none));
        Assert.Equal(["1"], space.Candidates(AttentionBlocks.RowsVariable, none));
        Assert.Equal(["1"], space.Candidates(AttentionBlocks.SharedVariable, none));
        Assert.Equal(["0"], space.Candidates(AttentionBlocks.TexelsVariable, none));
        Assert.Equal(["gpu"], space.Candidates(KernelStyle.Variable, none));
        Assert.Equal(["16", "32", "64", "128", "256"], space.Candidates(AttentionBlocks.WorkgroupVariable, none));
        // No cooperative matrices on lavapipe without the emulation layer, and none for an fp32 run anyway.
        Assert.Empty(space.Candidates(AttentionKernels.PathVariable, none));
        // Staging blocks matter only once staging is on; then every block lavapipe's 32 KiB holds but the default (at head dim 16: all).
        Assert.Empty(space.Candidates(AttentionBlocks.StageVariable, none));
        Assert.Equal(["8", "16", "32"], space.Candidates(AttentionBlocks.StageVariable, new Dictionary<string, string> { [AttentionBlocks.SharedVariable] = "1" }));
        // 16-bit qkv has no texel variants.
        Assert.Empty(new DeviceTuningSpace(Context, Shape with { Precision = Precision.Bf16 }).Candidates(AttentionBlocks.TexelsVariable, none));
    }

    [Fact]
    public void A_cached_result_for_this_device_and_shape_chooses_the_kernels_until_its_scope_ends_and_the_environment_still_wins()
    {
        SaveCache(TuningIdentity.For(Context.Info), new Dictionary<string, string> { [MatmulKernels.PathVariable] = "register" });
        Assert.Equal(MatmulPath.RegisterBlockedTexels, MatmulKernels.ChoosePath(Context.Info));
        var log = new StringWriter();
        using (TunedKernels.Apply(Context.Info, Shape, log, CachePath))
        {
            Assert.Equal(MatmulPath.RegisterBlocked, MatmulKernels.ChoosePath(Context.Info));
            Assert.StartsWith("kernels: tuned by `vkdiff tune` on 2026-12-06 (VKDIFF_MATMUL=register, 1.20x the defaults' step rate)", log.ToString());
            Environment.SetEnvironmentVariable(MatmulKernels.PathVariable, "tiled");
            try
            {
                Assert.Equal(MatmulPath.Tiled, MatmulKernels.ChoosePath(Context.Info));
            }
            finally
            {
                Environment.SetEnvironmentVariable(MatmulKernels.PathVariable, null);
            }
        }
        Assert.Equal(MatmulPath.RegisterBlockedTexels, MatmulKernels.ChoosePath(Context.Info));

        // Another shape has no result: the defaults, saying so.
        var (settings, line) = TunedKernels.Lookup(Context.Info, Shape with { SequenceLength = 1024 }, CachePath);
        Assert.Empty(settings);
        Assert.StartsWith("kernels: defaults (no `vkdiff tune` result for this device at shape", line);
    }

    [Fact]
    public void A_stale_or_switched_off_cache_gives_the_defaults_in_one_line()
    {
        SaveCache(TuningIdentity.For(Context.Info) with { Driver = "llvmpipe 0.0.1 (Mesa 21.0.0)" }, new Dictionary<string, string> { [MatmulKernels.PathVariable] = "register" });
        var (settings, line) = TunedKernels.Lookup(Context.Info, Shape, CachePath);
        Assert.Empty(settings);
        Assert.Contains("ignored the tuning cache", line);
        Assert.Contains("Mesa 21.0.0", line);
        Assert.DoesNotContain('\n', line);

        SaveCache(TuningIdentity.For(Context.Info), new Dictionary<string, string> { [MatmulKernels.PathVariable] = "register" });
        Environment.SetEnvironmentVariable(TunedKernels.Variable, "off");
        try
        {
            (settings, line) = TunedKernels.Lookup(Context.Info, Shape, CachePath);
            Assert.Empty(settings);
            Assert.Equal("kernels: defaults (VKDIFF_TUNING=off)", line);
        }
        finally
        {
            Environment.SetEnvironmentVariable(TunedKernels.Variable, null);
        }
    }

    public new void Dispose()
    {
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        base.Dispose();
    }
}
