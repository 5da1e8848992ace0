using VkDiffusion.Runtime.Randomness;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// Registers the memory-bound transformer ops (RMSNorm, SwiGLU, RoPE, embedding, dropout, add, fill) as
/// benchmark cases named {op}.{shape}. Their bytes are the least traffic the op must move, so GB/s is
/// comparable with the device's copy roofline. Shapes: the tiny preset at batch 16 x seq 128 (2048 rows,
/// d 64, f 128, 4 heads of 16, byte vocabulary) and the 7M preset at batch 4 x seq 256 (1024 rows, d 128,
/// f 320, 4 heads of 32).
/// </summary>
public static class MemoryBoundBenchmarkCases
{
    private readonly record struct Shape(string Name, int Rows, int Model, int Hidden, int Heads, int HeadDim, int Vocab);

    // 258 byte-vocabulary rows (256 bytes, MASK, padding); the last real row is the MDM mask token.
    private const int ByteVocabRows = 258;

    public static KernelBenchmark RegisterStandard(KernelBenchmark benchmark)
    {
        Register(benchmark, new Shape("tiny.b16s128", 2048, 64, 128, 4, 16, ByteVocabRows), quick: true);
        Register(benchmark, new Shape("7M.b4s256", 1024, 128, 320, 4, 32, ByteVocabRows), quick: false);
        return benchmark;
    }

    private static void Register(KernelBenchmark benchmark, Shape s, bool quick)
    {
        long rc = (long)s.Rows * s.Model, rf = (long)s.Rows * s.Hidden;
        void Add(string op, double bytes, Func<GpuContext, PreparedCase> prepare) =>
            benchmark.Register(new KernelBenchmarkCase($"{op}.{s.Name}", 0, bytes, prepare, quick));

        Add("rmsnorm.fwd", 4.0 * (2 * rc + s.Model + s.Rows), context =>
        {
            GpuBuffer x = Filled(context, rc, 1), w = Filled(context, s.Model, 2), y = Filled(context, rc, 3), rstd = Filled(context, s.Rows, 4);
            return new PreparedCase(c => RmsNormKernels.Forward(c, x.Whole, w.Whole, y.Whole, rstd.Whole, s.Rows, s.Model), x, w, y, rstd);
        });
        Add("rmsnorm.bwd", 4.0 * (3 * rc + 2 * s.Model + s.Rows), context =>
        {
            GpuBuffer x = Filled(context, rc, 1), w = Filled(context, s.Model, 2), rstd = Filled(context, s.Rows, 3), dy = Filled(context, rc, 4);
            GpuBuffer dx = Filled(context, rc, 5), dw = Filled(context, s.Model, 6);
            GpuBuffer scratch = context.Allocate<byte>(RmsNormKernels.ScratchBytes(s.Rows, s.Model), "scratch");
            return new PreparedCase(c => RmsNormKernels.Backward(c, x.Whole, w.Whole, rstd.Whole, dy.Whole, dx.Whole, dw.Whole, scratch.Whole,
                s.Rows, s.Model, accumulateDx: false, accumulateDWeight: false), x, w, rstd, dy, dx, dw, scratch);
        });
        Add("swiglu.fwd", 4.0 * 3 * rf, context =>
        {
            GpuBuffer h = Filled(context, 2 * rf, 1), y = Filled(context, rf, 2);
            return new PreparedCase(c => SwigluKernels.Forward(c, h.Whole, y.Whole, s.Rows, s.Hidden), h, y);
        });
        Add("swiglu.bwd", 4.0 * 5 * rf, context =>
        {
            GpuBuffer h = Filled(context, 2 * rf, 1), dy = Filled(context, rf, 2), dh = Filled(context, 2 * rf, 3);
            return new PreparedCase(c => SwigluKernels.Backward(c, h.Whole, dy.Whole, dh.Whole, s.Rows, s.Hidden), h, dy, dh);
        });
        Add("rope", 4.0 * (4L * s.Rows * s.Heads * s.HeadDim + s.Rows), context =>
        {
            GpuBuffer qkv = Filled(context, 3L * s.Rows * s.Heads * s.HeadDim, 1);
            GpuBuffer positions = context.Upload<uint>(Enumerable.Range(0, s.Rows).Select(t => (uint)(t % 256)).ToArray(), "positions");
            return new PreparedCase(c => RopeKernels.Forward(c, qkv.Whole, positions.Whole, s.Rows, s.Heads, s.HeadDim), qkv, positions);
        });
        Add("embedding.fwd", 4.0 * (s.Rows + 2 * rc), context =>
        {
            GpuBuffer tokens = MaskedTokens(context, s), table = Filled(context, (long)s.Vocab * s.Model, 1), y = Filled(context, rc, 2);
            return new PreparedCase(c => EmbeddingKernels.Forward(c, tokens.Whole, table.Whole, y.Whole, s.Rows, s.Vocab, s.Model), tokens, table, y);
        });
        Add("embedding.bwd", 4.0 * (s.Rows + rc + (long)s.Vocab * s.Model), context =>
        {
            GpuBuffer tokens = MaskedTokens(context, s), dy = Filled(context, rc, 1), dTable = Filled(context, (long)s.Vocab * s.Model, 2);
            GpuBuffer scratch = context.Allocate<byte>(EmbeddingKernels.ScratchBytes(s.Rows), "scratch");
            return new PreparedCase(c => EmbeddingKernels.Backward(c, tokens.Whole, dy.Whole, dTable.Whole, scratch.Whole, s.Rows, s.Vocab, s.Model, accumulate: false),
                tokens, dy, dTable, scratch);
        });
        Add("dropout", 4.0 * 2 * rc, context =>
        {
            GpuBuffer x = Filled(context, rc, 1), y = Filled(context, rc, 2);
            GpuBuffer scalars = context.Allocate<byte>(StepScalars.ByteLength, "step scalars");
            return new PreparedCase(c => DropoutKernels.Forward(c, x.Whole, y.Whole, scalars.Whole, 0.1f, Philox4x32.Streams.FirstDropout, (int)rc), x, y, scalars);
        });
        Add("add", 4.0 * 3 * rc, context =>
        {
            GpuBuffer a = Filled(context, rc, 1), b = Filled(context, rc, 2), y = Filled(context, rc, 3);
            return new PreparedCase(c => BasicKernels.Add(c, a.Whole, b.Whole, y.Whole), a, b, y);
        });
        Add("fill", 4.0 * rc, context =>
        {
            GpuBuffer y = Filled(context, rc, 1);
            return new PreparedCase(c => BasicKernels.Fill(c, y.Whole, 0f), y);
        });
    }

    // An MDM-like batch: about half the tokens are the mask token (one hot table row), the rest spread over bytes.
    private static GpuBuffer MaskedTokens(GpuContext context, Shape s)
    {
        var random = new Random(7);
        uint mask = (uint)(s.Vocab - 2);
        return context.Upload<uint>(Enumerable.Range(0, s.Rows).Select(_ => random.Next(2) == 0 ? mask : (uint)random.Next(256)).ToArray(), "tokens");
    }

    // Values in [-1, 1): a cheap deterministic pattern; timing does not depend on them.
    private static GpuBuffer Filled(GpuContext context, long count, int seed)
    {
        var values = new float[count];
        var random = new Random(seed);
        for (long i = 0; i < count; i++) values[i] = random.NextSingle() * 2 - 1;
        return context.Upload<float>(values, $"buffer{seed}");
    }
}
