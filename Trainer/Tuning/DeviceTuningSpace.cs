using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Tuning;

/// <summary>
/// The kernel switches `vkdiff tune` varies on one device at one shape, by family:
/// - matmul: the path (register blocks, texel loads, shared tiles; cooperative matrices only where the run is already
///   fp16, since on fp32 operands they would change the numbers), the block of outputs per invocation, the
///   cooperative-matrix tile where the device lists several, and split-K;
/// - attention: the cooperative-matrix kernels (fp16 runs only), split rows (head dims 64 and 128), rows per invocation,
///   shared-memory staging and its block, texel loads (fp32 qkv only), and the workgroup size;
/// - memory: the layout of the memory-bound kernels (a row per invocation, or lanes per row with a shared reduction).
/// A value is a candidate when the device takes it and it chooses kernels other than the current settings do (found
/// by asking the dispatchers what they would pick); a switch set in the environment is the user's and is not varied.
/// </summary>
public sealed class DeviceTuningSpace(GpuContext context, TuningShape shape, IReadOnlyList<string>? families = null) : ITuningSpace
{
    public const string Matmul = "matmul", Attention = "attention", Memory = "memory";

    private static readonly (string Family, string Variable)[] All =
    [
        (Matmul, MatmulKernels.PathVariable),
        (Matmul, MatmulKernels.BlocksVariable),
        (Matmul, MatmulKernels.CooperativeTileVariable),
        (Matmul, MatmulKernels.SplitVariable),
        (Attention, AttentionKernels.PathVariable),
        (Attention, AttentionBlocks.SplitVariable),
        (Attention, AttentionBlocks.RowsVariable),
        (Attention, AttentionBlocks.SharedVariable),
        (Attention, AttentionBlocks.StageVariable),
        (Attention, AttentionBlocks.TexelsVariable),
        (Attention, AttentionBlocks.WorkgroupVariable),
        (Memory, KernelStyle.Variable),
    ];

    /// <summary>All three, or the ones asked for (in this order).</summary>
    public IReadOnlyList<string> Families { get; } = [.. new[] { Matmul, Attention, Memory }.Where(f => families is null || families.Contains(f))];

    /// <summary>The switches the user set in the environment, which the tuner leaves as they are.</summary>
    public IReadOnlyList<string> SetByUser { get; } =
        [.. All.Select(s => s.Variable).Where(v => !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(v)))];

    public IReadOnlyList<string> Switches(string family) =>
        [.. All.Where(s => s.Family == family && !SetByUser.Contains(s.Variable)).Select(s => s.Variable)];

    public IReadOnlyList<string> Candidates(string variable, IReadOnlyDictionary<string, string> settings)
    {
        string? current = Effective(variable, settings);
        if (current is null) return [];
        var seen = new HashSet<string> { current };
        var candidates = new List<string>();
        foreach (string value in Values(variable))
        {
            string? effect;
            try
            {
                effect = Effective(variable, new Dictionary<string, string>(settings) { [variable] = value });
            }
            catch (InvalidInputException)
            {
                continue; // not a value this device takes
            }
            if (effect is not null && seen.Add(effect)) candidates.Add(value);
        }
        return candidates;
    }

    private DeviceInfo Device => context.Info;

    private IEnumerable<string> Values(string variable) => variable switch
    {
        MatmulKernels.PathVariable => shape.Precision == Precision.Fp16 && MatmulKernels.CooperativeMatrixTile(context, out _) is not null
            ? ["register", "texel", "tiled", "coopmat"] : ["register", "texel", "tiled"],
        MatmulKernels.BlocksVariable => ["small", "large"],
        MatmulKernels.CooperativeTileVariable => MatmulKernels.CooperativeMatrixTiles.Select(t => $"{t.M}x{t.N}x{t.K}"),
        MatmulKernels.SplitVariable => ["off", "2", "4", "8"],
        AttentionKernels.PathVariable => shape.Precision == Precision.Fp16 && AttentionKernels.CooperativeMatrixBlocks(context, shape.HeadDim, out _) is not null
            ? ["fp32", "coopmat"] : [],
        AttentionBlocks.SplitVariable => ["0", "1"],
        AttentionBlocks.RowsVariable => ["1", shape.HeadDim <= 64 ? "8" : "4"],
        AttentionBlocks.SharedVariable or AttentionBlocks.TexelsVariable => ["0", "1"],
        AttentionBlocks.StageVariable => ["8", "16", "32", "64"],
        AttentionBlocks.WorkgroupVariable => ["8", "16", "32", "64", "128", "256"],
        KernelStyle.Variable => ["cpu", "gpu"],
        _ => throw new ArgumentOutOfRangeException(nameof(variable), variable, "not a tuned switch"),
    };

    // What the dispatchers pick for this switch's concern under these settings, as text; null when the switch has no
    // effect there (staging blocks without staging, texels for 16-bit qkv, attention block sizes on the cooperative-matrix path).
    private string? Effective(string variable, IReadOnlyDictionary<string, string> settings)
    {
        using IDisposable applied = KernelSwitches.UseTuned(settings);
        bool cooperativeAttention = AttentionKernels.ChoosePath() == AttentionPath.CooperativeMatrix;
        MatmulPath matmulPath = MatmulKernels.ChoosePath(context, shape.Precision);
        AttentionBlocks blocks = AttentionBlocks.For(Device, shape.HeadDim);
        return variable switch
        {
            MatmulKernels.PathVariable => MatmulKernels.PathName(matmulPath),
            MatmulKernels.BlocksVariable => matmulPath is MatmulPath.RegisterBlocked or MatmulPath.RegisterBlockedTexels or MatmulPath.Tiled
                ? KernelSwitches.Get(variable)?.Trim().ToLowerInvariant() ?? "auto" : null,
            MatmulKernels.CooperativeTileVariable => matmulPath == MatmulPath.CooperativeMatrix || cooperativeAttention
                ? MatmulKernels.CooperativeMatrixTile(context, out _) is { } tile ? $"{tile.M}x{tile.N}x{tile.K}" : null
                : null,
            MatmulKernels.SplitVariable => MatmulKernels.ForcedSplitCount() switch
            {
                null => "auto",
                1 => "off",
                int count => count.ToString(),
            },
            AttentionKernels.PathVariable => AttentionKernels.PathName(AttentionKernels.ChoosePath()),
            _ when cooperativeAttention && variable.StartsWith("VKDIFF_ATTENTION_", StringComparison.Ordinal) => null,
            AttentionBlocks.SplitVariable => AttentionBlocks.SplitLanes(shape.HeadDim) > 0 ? (blocks.Lanes > 1 ? "1" : "0") : null,
            AttentionBlocks.RowsVariable => blocks.Lanes > 1 ? null : blocks.RowsPerInvocation.ToString(),
            AttentionBlocks.SharedVariable => blocks.StageInShared ? "1" : "0",
            AttentionBlocks.StageVariable => blocks.StageInShared ? blocks.StageBlock.ToString() : null,
            AttentionBlocks.TexelsVariable => shape.Precision == Precision.Fp32 ? (blocks.TexelLoads ? "1" : "0") : null,
            AttentionBlocks.WorkgroupVariable => blocks.Lanes > 1 ? null : blocks.RowBlock.ToString(),
            KernelStyle.Variable => KernelStyle.RowPerInvocation(Device) ? "cpu" : "gpu",
            _ => throw new ArgumentOutOfRangeException(nameof(variable), variable, "not a tuned switch"),
        };
    }
}
