using System.Numerics;
using VkDiffusion.Runtime.Vulkan;
using static VkDiffusion.Runtime.Kernels.KernelShapes;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// Token-embedding lookup and its deterministic backward (Shaders/embedding_fwd.comp, embedding_bwd.comp). A table
/// bigger than one binding (GPT-2's 50304 x 768 fp32 is 155 MB; lavapipe binds 128 MiB) is bound in runs of rows,
/// one dispatch each, and a batch bigger than one binding in runs of tokens.
/// </summary>
public static class EmbeddingKernels
{
    private const uint WorkgroupSize = 256;
    private const uint ReduceWorkgroupSize = 64;
    // Forward lanes take the channels of a token row.
    private const uint ForwardWorkgroupSize = 64;

    private readonly record struct ForwardPush(uint TokenCount, uint VocabRows, uint ChannelCount, uint FirstRow, uint RowCount);
    private readonly record struct KeysPush(uint TokenCount, uint SortedCount);
    private readonly record struct SortPush(uint PairCount, uint BlockSize, uint Distance);
    private readonly record struct ReducePush(uint TokenCount, uint FirstRow, uint RowCount, uint ChannelCount, uint SortedCount, uint Accumulate);

    /// <summary>
    /// y[t, :] = table[tokens[t], :]. tokens: uint32[tokenCount]; table: [vocabRows, channelCount];
    /// y: [tokenCount, channelCount]. A token id at or above vocabRows yields a NaN row.
    /// </summary>
    public static void Forward(CommandList c, BufferSlice tokens, BufferSlice table, BufferSlice y, int tokenCount, int vocabRows, int channelCount)
    {
        uint count = Positive(tokenCount, nameof(tokenCount)), rows = Positive(vocabRows, nameof(vocabRows)), channels = Positive(channelCount, nameof(channelCount));
        const string op = "embedding forward";
        Require(table, (long)rows * channels, op, nameof(table));
        Require(tokens, count, op, nameof(tokens));
        Require(y, (long)count * channels, op, nameof(y));
        Kernel kernel = c.Context.Kernels.Get("embedding_fwd", ForwardWorkgroupSize);
        // Runs of tokens (the output's rows) within runs of table rows.
        foreach (var (firstRow, rowCount) in TableRuns(c, rows, channels, op))
            foreach (var (firstToken, tokenRun) in BindingChunks(c.Context.Info, count, op, 4L * channels, sizeof(uint)))
            {
                var (groupsX, groupsY) = KernelStyle.ColumnRowGrid(c.Context.Info, (uint)tokenRun, channels, ForwardWorkgroupSize);
                c.Dispatch(kernel, groupsX, groupsY, 1, new ForwardPush((uint)tokenRun, rows, channels, (uint)firstRow, (uint)rowCount),
                    Binding.Read(tokens.Elements<uint>(firstToken, tokenRun)),
                    Binding.Read(FloatRows(table, firstRow, rowCount, channels)),
                    Binding.Write(FloatRows(y, firstToken, tokenRun, channels)));
            }
    }

    /// <summary>Bytes of scratch <see cref="Backward"/> needs: one (token, position) key per token, padded to a power of two.</summary>
    public static long ScratchBytes(int tokenCount) => 8L * SortedCount(Positive(tokenCount, nameof(tokenCount)));

    /// <summary>
    /// dTable[v, :] (+)= sum over t with tokens[t] == v of dy[t, :]. Deterministic, with no float atomics:
    /// the (token, position) pairs are sorted on the GPU (a bitonic network in <paramref name="scratch"/>,
    /// <see cref="ScratchBytes"/> long), then each row sums its tokens' gradients in position order.
    /// Rows no token hits are left as they are (accumulate) or zeroed (overwrite).
    /// </summary>
    public static void Backward(CommandList c, BufferSlice tokens, BufferSlice dy, BufferSlice dTable, BufferSlice scratch,
        int tokenCount, int vocabRows, int channelCount, bool accumulate)
    {
        uint count = Positive(tokenCount, nameof(tokenCount)), rows = Positive(vocabRows, nameof(vocabRows)), channels = Positive(channelCount, nameof(channelCount));
        const string op = "embedding backward";
        uint sortedCount = SortedCount(count);
        Require(scratch, 2L * sortedCount, op, nameof(scratch));
        Require(tokens, count, op, nameof(tokens));
        Require(dy, (long)count * channels, op, nameof(dy));
        Require(dTable, (long)rows * channels, op, nameof(dTable));
        KernelCache kernels = c.Context.Kernels;
        Kernel sort = kernels.Get("embedding_bwd_sort", WorkgroupSize);

        // A gradient bigger than one binding goes in runs of tokens, each sorted and reduced on its own and added to
        // the table after the first (a row's sum then adds its runs' sums: rounding, not bits, may change).
        foreach (var (firstToken, tokenRun) in BindingChunks(c.Context.Info, count, op, 4L * channels, sizeof(uint)))
        {
            uint runCount = (uint)tokenRun, runSorted = SortedCount(runCount);
            BufferSlice keys = scratch.Elements<uint>(0, 2L * runSorted);
            c.Dispatch(kernels.Get("embedding_bwd_keys", WorkgroupSize), KernelStyle.GridStrideGroups(c.Context.Info, runSorted, WorkgroupSize), 1, 1,
                new KeysPush(runCount, runSorted), Binding.Read(tokens.Elements<uint>(firstToken, runCount)), Binding.Write(keys));

            uint pairCount = runSorted / 2;
            uint sortGroups = KernelStyle.GridStrideGroups(c.Context.Info, pairCount, WorkgroupSize);
            for (uint blockSize = 2; blockSize <= runSorted; blockSize *= 2)
                for (uint distance = blockSize / 2; distance > 0; distance /= 2)
                    c.Dispatch(sort, sortGroups, 1, 1, new SortPush(pairCount, blockSize, distance), Binding.Write(keys));

            foreach (var (firstRow, rowCount) in TableRuns(c, rows, channels, op))
                c.Dispatch(kernels.Get("embedding_bwd_reduce", ReduceWorkgroupSize), RowGroups(rowCount), 1, 1,
                    new ReducePush(runCount, (uint)firstRow, (uint)rowCount, channels, runSorted, accumulate || firstToken > 0 ? 1u : 0u),
                    Binding.Read(keys),
                    Binding.Read(FloatRows(dy, firstToken, runCount, channels)),
                    Binding.Write(FloatRows(dTable, firstRow, rowCount, channels)));
        }
    }

    // Runs of fp32 table rows that each fit one binding.
    private static IEnumerable<(long First, long Count)> TableRuns(CommandList c, uint rows, uint channels, string op) =>
        BindingChunks(c.Context.Info, rows, op, 4L * channels);

    // The bitonic network sorts a power-of-two count; a single token still needs one (trivial) key.
    private static uint SortedCount(uint tokenCount)
    {
        if (tokenCount > 1u << 31) throw new ArgumentOutOfRangeException(nameof(tokenCount), tokenCount, "too many tokens to sort");
        return Math.Max(2u, BitOperations.RoundUpToPowerOf2(tokenCount));
    }
}
