using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>A linear-layer product to benchmark: rows x in -> out.</summary>
public readonly record struct MatmulShape(string Name, int RowCount, int InFeatures, int OutFeatures)
{
    public override string ToString() => $"{Name} ({RowCount}x{InFeatures}->{OutFeatures})";
}

/// <summary>
/// Registers matmul benchmark cases: each shape in the three layouts (forward, input and weight gradients), on the
/// device's path (matmul.*), where the device has cooperative matrices on the cooperative-matrix path with fp32
/// operands (matmul_coopmat.*, judged against the matrix-unit roof), and with 16-bit operands on the path mixed
/// precision takes (matmul_f16.*, matmul_bf16.*; fp16 against the matrix-unit roof where it runs on cooperative matrices).
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
        {
            Layout[]? layouts = shape.Name == "square4096" ? [Layout.Forward] : null;
            Register(benchmark, shape, path: MatmulPath.CooperativeMatrix, layouts: layouts);
            Register(benchmark, shape, layouts: layouts, operands: Precision.Fp16);
            Register(benchmark, shape, layouts: layouts, operands: Precision.Bf16);
        }
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
    /// path, matmul_coopmat.{layout}.{shape name} on the cooperative-matrix path (only on devices that have it), or with
    /// 16-bit <paramref name="operands"/> matmul_f16/matmul_bf16.{layout}.{shape name} (on devices with 16-bit storage).
    /// </summary>
    public static void Register(KernelBenchmark benchmark, MatmulShape shape, bool quick = false, Layout[]? quickLayouts = null,
        MatmulPath? path = null, Layout[]? layouts = null, Precision operands = Precision.Fp32)
    {
        bool coopmat = path == MatmulPath.CooperativeMatrix;
        string family = coopmat ? "matmul_coopmat" : operands == Precision.Fp32 ? "matmul" : $"matmul_{(operands == Precision.Fp16 ? "f16" : "bf16")}";
        Func<GpuContext, bool>? matrixUnits = coopmat ? _ => true
            : operands == Precision.Fp16 && path is null ? context => MatmulKernels.ChoosePath(context, operands) == MatmulPath.CooperativeMatrix
            : null;
        Func<GpuContext, bool>? supported = coopmat ? context => MatmulKernels.CooperativeMatrixTile(context, out _) is not null
            : operands != Precision.Fp32 ? context => PrecisionFormat.MissingFeature(operands, context.Info) is null
            : null;
        foreach (Layout layout in layouts ?? Enum.GetValues<Layout>())
        {
            string name = layout switch { Layout.Forward => "fwd", Layout.BackwardInput => "bwd_in", _ => "bwd_w" };
            var (m, k, n) = (shape.RowCount, shape.InFeatures, shape.OutFeatures);
            // The least traffic: read both operands once, write the (fp32) output once.
            var (firstCount, secondCount, outputCount) = Counts(layout, shape);
            double bytes = operands.ElementBytes() * (firstCount + secondCount) + 4.0 * outputCount;
            bool inQuick = quick && (quickLayouts is null || quickLayouts.Contains(layout));
            benchmark.Register(new KernelBenchmarkCase($"{family}.{name}.{shape.Name}", MatmulKernels.Flops(m, k, n), bytes,
                context => Prepare(context, layout, shape, path, operands), inQuick, matrixUnits, supported));
        }
    }

    // Elements of the two operands and the output: forward (x, w -> y), input gradient (dy, w -> dx), weight gradient (dy, x -> dw).
    private static (double First, double Second, double Output) Counts(Layout layout, MatmulShape shape)
    {
        double m = shape.RowCount, k = shape.InFeatures, n = shape.OutFeatures;
        return layout switch
        {
            Layout.Forward => (m * k, n * k, m * n),
            Layout.BackwardInput => (m * n, n * k, m * k),
            _ => (m * n, m * k, n * k),
        };
    }

    /// <summary>
    /// Allocates random operands for one layout (stored as <paramref name="operands"/>) and an fp32 output, and returns the
    /// recording of the product (on <paramref name="path"/> when given).
    /// </summary>
    public static PreparedCase Prepare(GpuContext context, Layout layout, MatmulShape shape, MatmulPath? path = null, Precision operands = Precision.Fp32)
    {
        var (firstCount, secondCount, outputCount) = Counts(layout, shape);
        GpuBuffer first = Filled(context, (long)firstCount, "a", 1, operands);
        GpuBuffer second = Filled(context, (long)secondCount, "b", 2, operands);
        GpuBuffer output = context.Allocate<float>((long)outputCount, "c");
        var (m, k, n) = (shape.RowCount, shape.InFeatures, shape.OutFeatures);
        Action<CommandList> product = layout switch
        {
            Layout.Forward => c => MatmulKernels.Forward(c, first.Whole, second.Whole, output.Whole, m, k, n, operands: operands),
            Layout.BackwardInput => c => MatmulKernels.BackwardInput(c, first.Whole, second.Whole, output.Whole, m, k, n, operands: operands),
            _ => c => MatmulKernels.BackwardWeight(c, first.Whole, second.Whole, output.Whole, m, k, n, operands: operands),
        };
        return new PreparedCase(c =>
        {
            using (MatmulKernels.Override(path))
                product(c);
        }, first, second, output);
    }

    // Values in [-1, 1): a cheap deterministic pattern; timing does not depend on them.
    private static GpuBuffer Filled(GpuContext context, long count, string name, int seed, Precision operands)
    {
        var values = new float[count];
        var random = new Random(seed);
        for (long i = 0; i < count; i++) values[i] = random.NextSingle() * 2 - 1;
        return operands == Precision.Fp32 ? context.Upload<float>(values, name) : context.Upload<ushort>(Reference.SixteenBitReference.Encode(values, operands), name);
    }
}
