using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Reference;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.SelfTest.Checks;

/// <summary>
/// <see cref="MatmulKernels"/> forward, backward-input and backward-weight, overwriting and accumulating, against
/// <see cref="MatmulReference"/> (double), on every path the device runs: the one it uses (VKDIFF_MATMUL respected),
/// that path with the reduction split (split-K, two passes), and the cooperative-matrix path with and without a split
/// where the device offers it. Each case names its path. Shapes: a single row, an odd reduction, tile-aligned 64^3,
/// primes around tile edges, one large enough in M and N to select the big register blocks or shared tiles, and for
/// split-K reductions long enough to split, with ragged slices. Each path runs with fp32 operands and, where the device
/// can store them, with fp16 and bf16 operands (mixed precision; the cooperative-matrix path has fp16 only), whose
/// reference takes the operands as rounded to 16 bits, so the fp32 bound still holds (fewer shapes: only the loads differ).
/// Tolerance (the bound of Tests/Runtime/MatmulTests): an fp32 dot product of R terms in any order, with or without
/// FMA, is within (R + 2) 2^-24 (sum|a||b| + |prior|) of the exact value per element (Higham 3.1, plus one rounding
/// for adding the prior output when accumulating). The cooperative-matrix path rounds both operands to fp16
/// (2^-11 each) and a device may round each product to fp16 too (the lavapipe emulation layer does), so it adds
/// 2^-9 sum|a||b|. As a normwise relative error that is max_i of the bound / max|reference|, per case.
/// </summary>
/// <param name="onlyOperands">Run only the cases of this operand precision (the fast-path gate checks what a job will use).</param>
internal sealed class MatmulCheck(Precision? onlyOperands) : ISelfTestCheck
{
    /// <summary>Every precision the device can store (the self-test suite creates its checks without arguments).</summary>
    public MatmulCheck() : this(null)
    {
    }

    private enum Layout { Forward, BackwardInput, BackwardWeight }

    // (rows M, in K, out N)
    private static readonly (int M, int K, int N)[] Shapes = [(1, 7, 33), (64, 64, 64), (127, 257, 33), (513, 8, 515)];
    // Reductions of 600-1100 in every layout: two or three slices, the last ragged.
    private static readonly (int M, int K, int N)[] SplitShapes = [(600, 1100, 24), (33, 770, 1030)];
    // 16-bit operands change only the loads: a ragged shape, a tile-aligned one and one split reduction cover them.
    private static readonly (int M, int K, int N)[] SixteenBitShapes = [(64, 64, 64), (127, 257, 33)];
    private static readonly (int M, int K, int N)[] SixteenBitSplitShapes = [(33, 770, 1030)];
    private const int SplitCount = 3;

    public string Name => "matmul";

    public IEnumerable<SelfTestResult> Run(GpuContext context)
    {
        var runs = new List<(MatmulPath Path, Precision Operands, int Splits, (int M, int K, int N)[] Shapes)>();
        bool hasCooperativeMatrix = MatmulKernels.CooperativeMatrixTile(context, out _) is not null;
        foreach (Precision operands in Enum.GetValues<Precision>())
        {
            if (PrecisionFormat.MissingFeature(operands, context.Info) is not null || (onlyOperands is { } only && only != operands)) continue;
            MatmulPath devicePath = MatmulKernels.ChoosePath(context, operands);
            var (shapes, splitShapes) = operands == Precision.Fp32 ? (Shapes, SplitShapes) : (SixteenBitShapes, SixteenBitSplitShapes);
            runs.Add((devicePath, operands, 1, shapes));
            runs.Add((devicePath, operands, SplitCount, splitShapes));
            if (devicePath != MatmulPath.CooperativeMatrix && hasCooperativeMatrix && operands != Precision.Bf16)
            {
                runs.Add((MatmulPath.CooperativeMatrix, operands, 1, shapes));
                runs.Add((MatmulPath.CooperativeMatrix, operands, SplitCount, splitShapes));
            }
        }
        foreach (var (path, operands, splits, shapes) in runs)
            foreach (var (m, k, n) in shapes)
                foreach (Layout layout in Enum.GetValues<Layout>())
                    foreach (SelfTestResult result in RunCase(context, path, operands, splits, layout, m, k, n)) yield return result;
    }

    private IEnumerable<SelfTestResult> RunCase(GpuContext context, MatmulPath path, Precision operands, int splits, Layout layout, int m, int k, int n)
    {
        int seed = 31 * m + 7 * k + n + (int)layout;
        // (first, second) operands: forward (x, w), backward-input (dy, w), backward-weight (dy, x).
        var (firstCount, secondCount, outputCount, reductionLength) = layout switch
        {
            Layout.Forward => (m * k, n * k, m * n, k),
            Layout.BackwardInput => (m * n, n * k, m * k, n),
            _ => (m * n, m * k, n * k, m),
        };
        float[] first = SixteenBitReference.Round(SelfTestMeasure.Uniform(firstCount, seed), operands);
        float[] second = SixteenBitReference.Round(SelfTestMeasure.Uniform(secondCount, seed + 1), operands);
        float[] prior = SelfTestMeasure.Uniform(outputCount, seed + 2, -3f, 3f);

        using GpuBuffer firstBuffer = Upload(context, first, operands, "selftest-matmul-a"), secondBuffer = Upload(context, second, operands, "selftest-matmul-b");
        using GpuBuffer overwritten = context.Allocate<float>(outputCount, "selftest-matmul-c");
        using GpuBuffer accumulated = context.Upload<float>(prior, "selftest-matmul-c-accumulate");
        using (MatmulKernels.Override(path, splits))
            context.Execute(c =>
            {
                Record(c, layout, firstBuffer.Whole, secondBuffer.Whole, overwritten.Whole, m, k, n, accumulate: false, operands);
                Record(c, layout, firstBuffer.Whole, secondBuffer.Whole, accumulated.Whole, m, k, n, accumulate: true, operands);
            });

        double[] product = Reference(layout, first, second, m, k, n);
        double[] absoluteProduct = Reference(layout, Absolute(first), Absolute(second), m, k, n);
        double unit = (reductionLength + 2) * Math.Pow(2, -24) + (path == MatmulPath.CooperativeMatrix ? Math.Pow(2, -9) : 0);
        var bound = new double[outputCount];
        var accumulateExpected = new double[outputCount];
        var accumulateBound = new double[outputCount];
        for (int i = 0; i < outputCount; i++)
        {
            bound[i] = unit * absoluteProduct[i];
            accumulateExpected[i] = prior[i] + product[i];
            accumulateBound[i] = unit * (absoluteProduct[i] + Math.Abs(prior[i]));
        }
        string tile = path == MatmulPath.CooperativeMatrix && MatmulKernels.CooperativeMatrixTile(context, out _) is { } t ? $" {t.M}x{t.N}x{t.K}" : "";
        string format = operands == Precision.Fp32 ? "" : $", {operands.Name()} operands";
        string shape = $"{Label(layout)} M={m} K={k} N={n} ({MatmulKernels.PathName(path)}{tile}{(splits > 1 ? $", split-K {splits}" : "")}{format})";
        yield return new SelfTestResult(Name, shape, SelfTestMeasure.NormwiseRelativeError(context.Download<float>(overwritten), product),
            SelfTestMeasure.NormwiseTolerance(bound, product));
        yield return new SelfTestResult(Name, $"{shape} accumulate",
            SelfTestMeasure.NormwiseRelativeError(context.Download<float>(accumulated), accumulateExpected),
            SelfTestMeasure.NormwiseTolerance(accumulateBound, accumulateExpected));
    }

    private static GpuBuffer Upload(GpuContext context, float[] values, Precision operands, string name) => operands == Precision.Fp32
        ? context.Upload<float>(values, name)
        : context.Upload<ushort>(SixteenBitReference.Encode(values, operands), name);

    private static void Record(CommandList c, Layout layout, BufferSlice first, BufferSlice second, BufferSlice output, int m, int k, int n, bool accumulate,
        Precision operands)
    {
        switch (layout)
        {
            case Layout.Forward: MatmulKernels.Forward(c, first, second, output, m, k, n, accumulate, operands); break;
            case Layout.BackwardInput: MatmulKernels.BackwardInput(c, first, second, output, m, k, n, accumulate, operands); break;
            default: MatmulKernels.BackwardWeight(c, first, second, output, m, k, n, accumulate, operands); break;
        }
    }

    private static double[] Reference(Layout layout, float[] first, float[] second, int m, int k, int n) => layout switch
    {
        Layout.Forward => MatmulReference.Forward(first, second, m, k, n),
        Layout.BackwardInput => MatmulReference.BackwardInput(first, second, m, k, n),
        _ => MatmulReference.BackwardWeight(first, second, m, k, n),
    };

    private static string Label(Layout layout) => layout switch
    {
        Layout.Forward => "forward",
        Layout.BackwardInput => "backward input",
        _ => "backward weight",
    };

    private static float[] Absolute(float[] values) => Array.ConvertAll(values, Math.Abs);
}
