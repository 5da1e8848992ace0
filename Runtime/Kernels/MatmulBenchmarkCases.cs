using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>A linear-layer product to benchmark: rows x in -> out.</summary>
public readonly record struct MatmulShape(string Name, int RowCount, int InFeatures, int OutFeatures)
{
    public override string ToString() => $"{Name} ({RowCount}x{InFeatures}->{OutFeatures})";
}

/// <summary>
/// Registers matmul benchmark cases: each shape in the three layouts (forward, input and weight gradients), on the
/// device's path (matmul.*) and, where the device has cooperative matrices, on the fp16 cooperative-matrix path
/// (matmul_coopmat.*, judged against the matrix-unit roof).
/// </summary>
public static class MatmulBenchmarkCases
{
    public enum Layout { Forward, BackwardInput, BackwardWeight }

    /// <summary>Vocabulary rows of the GPT-2 embedding table padded to a multiple of 64 (PAPER.md section 2).</summary>
    public const int PaddedVocabSize = 50304;

    /// <summary>
    /// The square products (512^3, 1024^3), then every linear layer of the paper's 7M, 14M and 44M presets
    /// (d_model / f: 128/320, 224/576, 512/1344; fused QKV d -> 3d, attention output d -> d, SwiGLU input
    /// d -> 2f, output f -> d, tied LM head d -> 50304) at 1024 rows (batch 4 x seq 256) and 2048 rows
    /// (batch 1 x seq 2048). Quick keeps 512^3, 1024^3 forward and the 7M preset at seq 256 without its LM head.
    /// </summary>
    public static KernelBenchmark RegisterStandard(KernelBenchmark benchmark)
    {
        Register(benchmark, new MatmulShape("square512", 512, 512, 512), quick: true);
        Register(benchmark, new MatmulShape("square1024", 1024, 1024, 1024), quick: true, quickLayouts: [Layout.Forward]);
        // 4096^3 (137 GFLOP: seconds per run on lavapipe) is where a GPU's matrix units reach their peak.
        Register(benchmark, new MatmulShape("square4096", 4096, 4096, 4096), layouts: [Layout.Forward]);
        foreach (var shape in new[] { new MatmulShape("square1024", 1024, 1024, 1024), new MatmulShape("square4096", 4096, 4096, 4096),
            new MatmulShape("7M.seq2048.lm_head", 2048, 128, PaddedVocabSize), new MatmulShape("44M.seq2048.mlp_in", 2048, 512, 2 * 1344) })
            Register(benchmark, shape, path: MatmulPath.CooperativeMatrix, layouts: shape.Name == "square4096" ? [Layout.Forward] : null);
        foreach (var (preset, model, hidden) in new[] { ("7M", 128, 320), ("14M", 224, 576), ("44M", 512, 1344) })
            foreach (var (sequence, rows) in new[] { (256, 1024), (2048, 2048) })
            {
                bool quick = preset == "7M" && sequence == 256;
                string prefix = $"{preset}.seq{sequence}";
                Register(benchmark, new MatmulShape($"{prefix}.qkv", rows, model, 3 * model), quick);
                Register(benchmark, new MatmulShape($"{prefix}.attn_out", rows, model, model), quick);
                Register(benchmark, new MatmulShape($"{prefix}.mlp_in", rows, model, 2 * hidden), quick);
                Register(benchmark, new MatmulShape($"{prefix}.mlp_out", rows, hidden, model), quick);
                // The LM head alone is ~90% of a 7M step's matmul work and seconds per run on lavapipe: not in quick.
                Register(benchmark, new MatmulShape($"{prefix}.lm_head", rows, model, PaddedVocabSize), quick: false);
            }
        return benchmark;
    }

    /// <summary>
    /// Registers <paramref name="shape"/> in each layout (or those given) as matmul.{layout}.{shape name} on the device's
    /// path, or matmul_coopmat.{layout}.{shape name} on the cooperative-matrix path (only on devices that have it).
    /// </summary>
    public static void Register(KernelBenchmark benchmark, MatmulShape shape, bool quick = false, Layout[]? quickLayouts = null,
        MatmulPath? path = null, Layout[]? layouts = null)
    {
        bool matrixUnits = path == MatmulPath.CooperativeMatrix;
        foreach (Layout layout in layouts ?? Enum.GetValues<Layout>())
        {
            string name = layout switch { Layout.Forward => "fwd", Layout.BackwardInput => "bwd_in", _ => "bwd_w" };
            var (m, k, n) = (shape.RowCount, shape.InFeatures, shape.OutFeatures);
            // The least traffic: read both operands once, write the output once.
            double bytes = 4.0 * ((double)m * k + (double)n * k + (double)m * n);
            bool inQuick = quick && (quickLayouts is null || quickLayouts.Contains(layout));
            benchmark.Register(new KernelBenchmarkCase($"{(matrixUnits ? "matmul_coopmat" : "matmul")}.{name}.{shape.Name}", MatmulKernels.Flops(m, k, n), bytes,
                context => Prepare(context, layout, shape, path), inQuick, matrixUnits,
                matrixUnits ? context => MatmulKernels.CooperativeMatrixTile(context, out _) is not null : null));
        }
    }

    /// <summary>Allocates random operands for one layout and returns the recording of the product (on <paramref name="path"/> when given).</summary>
    public static PreparedCase Prepare(GpuContext context, Layout layout, MatmulShape shape, MatmulPath? path = null)
    {
        var (m, k, n) = (shape.RowCount, shape.InFeatures, shape.OutFeatures);
        GpuBuffer x = Filled(context, (long)m * k, "x", 1);
        GpuBuffer w = Filled(context, (long)n * k, "w", 2);
        GpuBuffer dy = Filled(context, (long)m * n, "y", 3);
        Action<CommandList> product = layout switch
        {
            Layout.Forward => c => MatmulKernels.Forward(c, x.Whole, w.Whole, dy.Whole, m, k, n),
            Layout.BackwardInput => c => MatmulKernels.BackwardInput(c, dy.Whole, w.Whole, x.Whole, m, k, n),
            _ => c => MatmulKernels.BackwardWeight(c, dy.Whole, x.Whole, w.Whole, m, k, n),
        };
        return new PreparedCase(c =>
        {
            using (MatmulKernels.Override(path))
                product(c);
        }, x, w, dy);
    }

    // Values in [-1, 1): a cheap deterministic pattern; timing does not depend on them.
    private static GpuBuffer Filled(GpuContext context, long count, string name, int seed)
    {
        var values = new float[count];
        var random = new Random(seed);
        for (long i = 0; i < count; i++) values[i] = random.NextSingle() * 2 - 1;
        return context.Upload<float>(values, name);
    }
}
