using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Randomness;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

/// <summary>
/// A device whose largest storage binding is small (lavapipe and many mobile GPUs bind 128 MiB, less than a GPT-2 embedding
/// table): VKDIFF_BINDING_LIMIT lowers the limit vkdiff assumes, and every op that binds a tensor above it must go in runs
/// and give the same result as with whole bindings on the same device. Here each op's tensors are 2-6 times a 64 KiB limit.
/// </summary>
public sealed class BindingLimitTests(GpuFixture fixture) : GpuTest(fixture)
{
    private const int LimitBytes = 64 * 1024;
    private const string InputGradient = "matmul input gradient (table along r)", EmbeddingGradient = "embedding backward";

    [Fact]
    public void Ops_on_tensors_above_the_binding_limit_go_in_runs_and_give_the_bits_of_whole_bindings()
    {
        using GpuContext limited = OpenWithBindingLimit($"{LimitBytes / 1024}K");
        Assert.Equal((ulong)LimitBytes, limited.Info.MaxStorageBufferRange);

        Dictionary<string, uint[]> whole = RunOps(Context), inRuns = RunOps(limited);
        Assert.Equal(whole.Keys, inRuns.Keys);
        // Without runs the limited context refuses to record (CommandList checks every binding against the limit). Every
        // output element is computed by the same arithmetic, except where a reduction itself is split: the matmul's input
        // gradient sums the table's rows in runs (600 terms of O(1): 1e-4), the embedding's backward the tokens (a few terms).
        foreach (string output in whole.Keys.Where(name => name != InputGradient && name != EmbeddingGradient))
            Assert.True(whole[output].SequenceEqual(inRuns[output]), $"{output} differs between whole bindings and runs under a {LimitBytes}-byte limit");
        float[] Floats(uint[] bits) => [.. bits.Select(BitConverter.UInt32BitsToSingle)];
        TestData.AssertClose(Floats(inRuns[InputGradient]), Floats(whole[InputGradient]), 1e-4, 1e-5, InputGradient);
        TestData.AssertClose(Floats(inRuns[EmbeddingGradient]), Floats(whole[EmbeddingGradient]), 1e-5, 1e-6, EmbeddingGradient);
        limited.WaitForSubmittedWork();
        var messages = limited.Validation!.Drain();
        Assert.True(messages.Count == 0, "validation layer reported:\n" + string.Join("\n", messages));
    }

    [Fact]
    public void A_tensor_whose_smallest_run_exceeds_the_limit_is_refused_with_the_op_named()
    {
        using GpuContext limited = OpenWithBindingLimit("1K");
        // One token's q, k and v for 2 heads of 64 is 1.5 KiB.
        using GpuBuffer qkv = limited.Allocate<float>(64 * 384, "qkv"), positions = limited.Allocate<uint>(64, "positions");
        var error = Assert.Throws<BindingRangeException>(() => limited.Execute(c => RopeKernels.Forward(c, qkv.Whole, positions.Whole, 64, 2, 64)));
        Assert.Contains("rope", error.Message);
        Assert.Contains("maxStorageBufferRange 1024 bytes", error.Message);
    }

    /// <summary>A second context on the test device that assumes <paramref name="limit"/> (VKDIFF_BINDING_LIMIT's format) as its binding range.</summary>
    internal static GpuContext OpenWithBindingLimit(string limit)
    {
        // Tests run one at a time (xunit.runner.json), so no other context is opened while the variable is set.
        Environment.SetEnvironmentVariable(DeviceInfo.BindingLimitVariable, limit);
        try
        {
            return GpuContext.Create(TestEnvironment.DeviceSelector, validation: true);
        }
        finally
        {
            Environment.SetEnvironmentVariable(DeviceInfo.BindingLimitVariable, null);
        }
    }

    // Every chunked op on the same inputs, each output's bits by name.
    private static Dictionary<string, uint[]> RunOps(GpuContext context)
    {
        var outputs = new Dictionary<string, uint[]>();
        var buffers = new List<GpuBuffer>();
        GpuBuffer Upload<T>(T[] values, string name) where T : unmanaged
        {
            GpuBuffer buffer = context.Upload<T>(values, name);
            buffers.Add(buffer);
            return buffer;
        }
        GpuBuffer Output(long words, string name) => Upload(Enumerable.Repeat(0x7FC00001u, checked((int)words)).ToArray(), name);
        void Read(string name, GpuBuffer buffer) => outputs[name] = context.Download<uint>(buffer);

        try
        {
            const int elements = 40_000;
            float[] a = TestData.Normal(elements, seed: 1), b = TestData.Normal(elements, seed: 2);
            GpuBuffer aBuffer = Upload(a, "a"), bBuffer = Upload(b, "b");
            GpuBuffer filled = Output(elements, "filled"), copied = Output(elements, "copied"), sum = Output(elements, "sum"),
                product = Output(elements, "product"), scaled = Output(elements, "scaled"), half = Output(elements / 2, "half"),
                dropped = Output(elements, "dropped");
            GpuBuffer stepScalars = Upload(new[] { new StepScalars { RandomStep = 17, Seed = 1234 } }, "step scalars");

            const int swigluRows = 300, hidden = 100;
            GpuBuffer h = Upload(TestData.Normal(2 * swigluRows * hidden, seed: 3, std: 2f), "h"), dy = Upload(TestData.Normal(swigluRows * hidden, seed: 4), "dy");
            GpuBuffer swigluY = Output(swigluRows * hidden, "swiglu y"), swigluDh = Output(2 * swigluRows * hidden, "swiglu dh");

            const int tokens = 200, heads = 4, headDim = 32, qkvWidth = 3 * heads * headDim;
            float[] qkv = TestData.Normal(tokens * qkvWidth, seed: 5);
            GpuBuffer positions = Upload(Enumerable.Range(0, tokens).Select(t => (uint)(t % 37)).ToArray(), "positions");
            GpuBuffer rotated = Upload(qkv, "rotated"), unrotated = Upload(qkv, "unrotated"), rotated16 = Output(tokens * qkvWidth / 2, "rotated16");
            GpuBuffer qkvInput = Upload(qkv, "qkv");

            // A 1000 x 32 table (125 KiB) with tokens in every run and one id past the table (its row becomes NaN), and 600
            // tokens whose rows (75 KiB) go in runs too.
            const int vocabRows = 1000, channels = 32, lookups = 600;
            uint[] ids = Enumerable.Range(0, lookups).Select(t => t == 17 ? (uint)vocabRows : (uint)(t * 7919 % vocabRows)).ToArray();
            GpuBuffer tokenIds = Upload(ids, "tokens"), table = Upload(TestData.Normal(vocabRows * channels, seed: 6), "table");
            GpuBuffer embedded = Output(lookups * channels, "embedded"), embeddingDy = Upload(TestData.Normal(lookups * channels, seed: 7), "embedding dy");
            GpuBuffer dTable = Upload(TestData.Normal(vocabRows * channels, seed: 8), "dTable");
            GpuBuffer scratch = context.Allocate<byte>(EmbeddingKernels.ScratchBytes(lookups), "scratch");
            buffers.Add(scratch);

            const int normRows = 300, normChannels = 64;
            GpuBuffer normX = Upload(TestData.Normal(normRows * normChannels, seed: 13), "norm x"), normWeight = Upload(TestData.Normal(normChannels, seed: 14), "norm weight");
            GpuBuffer normDy = Upload(TestData.Normal(normRows * normChannels, seed: 15), "norm dy"), normY = Output(normRows * normChannels, "norm y");
            GpuBuffer rstd = Output(normRows, "rstd"), normDx = Upload(TestData.Normal(normRows * normChannels, seed: 16), "norm dx");
            GpuBuffer normDWeight = Upload(TestData.Normal(normChannels, seed: 17), "norm dweight");
            GpuBuffer normScratch = context.Allocate<byte>(RmsNormKernels.ScratchBytes(normRows, normChannels), "norm scratch");
            buffers.Add(normScratch);

            // A tied head: 16 rows against a 600 x 64 table (150 KiB), forward and both gradients.
            const int rows = 16, width = 64, headRows = 600;
            GpuBuffer hidden64 = Upload(TestData.Normal(rows * width, seed: 9), "hidden"), head = Upload(TestData.Normal(headRows * width, seed: 10), "head");
            GpuBuffer logits = Output(rows * headRows, "logits"), dLogits = Upload(TestData.Normal(rows * headRows, seed: 11), "dlogits");
            GpuBuffer dHidden = Output(rows * width, "dhidden"), dHead = Upload(TestData.Normal(headRows * width, seed: 12), "dhead");

            context.Execute(c =>
            {
                BasicKernels.Fill(c, filled.Whole, 0.25f);
                BasicKernels.Copy(c, aBuffer.Whole, copied.Whole);
                BasicKernels.Add(c, aBuffer.Whole, bBuffer.Whole, sum.Whole);
                BasicKernels.Multiply(c, aBuffer.Whole, bBuffer.Whole, product.Whole);
                BasicKernels.Scale(c, aBuffer.Whole, scaled.Whole, -3f);
                CastKernels.To16Bit(c, aBuffer.Whole, half.Whole, Precision.Fp16);
                // One element short of whole four-element Philox blocks.
                DropoutKernels.Forward(c, aBuffer.Whole, dropped.Whole, stepScalars.Whole, 0.3f, Philox4x32.Streams.FirstDropout, elements - 1);
                SwigluKernels.Forward(c, h.Whole, swigluY.Whole, swigluRows, hidden);
                SwigluKernels.Backward(c, h.Whole, dy.Whole, swigluDh.Whole, swigluRows, hidden);
                RopeKernels.Forward(c, rotated.Whole, positions.Whole, tokens, heads, headDim);
                RopeKernels.Backward(c, unrotated.Whole, positions.Whole, tokens, heads, headDim);
                RopeKernels.ForwardTo16Bit(c, qkvInput.Whole, positions.Whole, rotated16.Whole, Precision.Bf16, tokens, heads, headDim);
                RmsNormKernels.Forward(c, normX.Whole, normWeight.Whole, normY.Whole, rstd.Whole, normRows, normChannels);
                RmsNormKernels.Backward(c, normX.Whole, normWeight.Whole, rstd.Whole, normDy.Whole, normDx.Whole, normDWeight.Whole, normScratch.Whole,
                    normRows, normChannels, accumulateDx: true, accumulateDWeight: true);
                EmbeddingKernels.Forward(c, tokenIds.Whole, table.Whole, embedded.Whole, lookups, vocabRows, channels);
                EmbeddingKernels.Backward(c, tokenIds.Whole, embeddingDy.Whole, dTable.Whole, scratch.Whole, lookups, vocabRows, channels, accumulate: true);
                MatmulKernels.Forward(c, hidden64.Whole, head.Whole, logits.Whole, rows, width, headRows);
                MatmulKernels.BackwardInput(c, dLogits.Whole, head.Whole, dHidden.Whole, rows, width, headRows);
                MatmulKernels.BackwardWeight(c, dLogits.Whole, hidden64.Whole, dHead.Whole, rows, width, headRows, accumulate: true);
            });
            foreach (var (name, buffer) in new[]
            {
                ("fill", filled), ("copy", copied), ("add", sum), ("multiply", product), ("scale", scaled), ("cast to fp16", half), ("dropout", dropped),
                ("swiglu forward", swigluY), ("swiglu backward", swigluDh), ("rope forward", rotated), ("rope backward", unrotated),
                ("rope forward to bf16", rotated16), ("rmsnorm forward", normY), ("rmsnorm rstd", rstd), ("rmsnorm input gradient", normDx),
                ("rmsnorm weight gradient", normDWeight), ("embedding forward", embedded), (EmbeddingGradient, dTable),
                ("matmul forward (table along j)", logits), (InputGradient, dHidden), ("matmul weight gradient (table along i)", dHead),
            })
                Read(name, buffer);
        }
        finally
        {
            foreach (GpuBuffer buffer in buffers) buffer.Dispose();
        }
        return outputs;
    }
}
