using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Data;

/// <summary>
/// The training stream of the data-constrained setup (PAPER §5). The unique tokens are exactly the first U tokens
/// of the training split: whole documents from its start, the last one cut so the prefix holds exactly U tokens
/// (so D = U*E holds exactly; the cut document keeps its beginning and has no end-of-document). The E copies of
/// those documents are shuffled together (seeded), concatenated, and cut into windows of L+1 tokens that overlap
/// by one (window k = stream[k*L .. k*L+L]; the tail that fills no window is dropped); the window order is
/// shuffled again (seeded). Only the document order (E x documents ints) and three ints per window are held,
/// never the E copies of the tokens, and any batch is computed directly from (seed, U, E, L), so a resumed run
/// gets exactly the batches it would have seen.
/// </summary>
public sealed class EpochPlan
{
    private const ulong DocumentOrderStream = 0, WindowOrderStream = 1;

    private readonly TokenSplit train;
    private readonly long[] documentStarts;
    private readonly int[] documentLengths;
    private readonly int[] documentOrder;
    private readonly int[] windowFirstEntry, windowFirstOffset, windowOrder;

    private EpochPlan(TokenSplit train, long uniqueTokens, int epochs, int sequenceLength, ulong seed,
        long[] documentStarts, int[] documentLengths, int[] documentOrder, int[] windowFirstEntry, int[] windowFirstOffset, int[] windowOrder)
    {
        this.train = train;
        UniqueTokens = uniqueTokens;
        Epochs = epochs;
        SequenceLength = sequenceLength;
        Seed = seed;
        this.documentStarts = documentStarts;
        this.documentLengths = documentLengths;
        this.documentOrder = documentOrder;
        this.windowFirstEntry = windowFirstEntry;
        this.windowFirstOffset = windowFirstOffset;
        this.windowOrder = windowOrder;
    }

    public long UniqueTokens { get; }
    public int Epochs { get; }
    /// <summary>L: a window holds L+1 tokens (model input and targets are cut from it by the objective).</summary>
    public int SequenceLength { get; }
    public ulong Seed { get; }
    public int WindowLength => SequenceLength + 1;

    /// <summary>Documents in the unique prefix, the cut last one included.</summary>
    public int UniqueDocumentCount => documentLengths.Length;

    /// <summary>Whether the last unique document was cut to make the prefix exactly U tokens.</summary>
    public bool LastDocumentCut { get; private init; }

    /// <summary>D = U * E.</summary>
    public long TotalTokens => UniqueTokens * Epochs;

    /// <summary>floor((U*E - 1) / L): windows of L+1 tokens with one token of overlap.</summary>
    public long WindowCount => windowOrder.Length;

    public long BatchCount(int batchSize) => WindowCount / batchSize;

    /// <summary>Training tokens consumed after that many batches: L per window (the overlap token is not counted twice).</summary>
    public long TokensSeenAfterBatches(long batchCount, int batchSize) => batchCount * batchSize * (long)SequenceLength;

    /// <summary>Epochs consumed (fractional) after tokensSeen training tokens: tokens seen / U.</summary>
    public double EpochAt(long tokensSeen) => (double)tokensSeen / UniqueTokens;

    public static EpochPlan Create(TokenSplit train, long uniqueTokens, int epochs, int sequenceLength, ulong seed)
    {
        if (uniqueTokens < 1) throw new InvalidInputException($"The unique-token budget must be positive (got {uniqueTokens}).");
        if (epochs < 1) throw new InvalidInputException($"The epoch count must be at least 1 (got {epochs}).");
        if (sequenceLength < 1) throw new InvalidInputException($"The sequence length must be at least 1 (got {sequenceLength}).");
        if (uniqueTokens > train.TokenCount)
            throw new InvalidInputException(
                $"The unique-token budget U = {uniqueTokens:N0} exceeds the {train.TokenCount:N0} tokens of the training split; use a smaller U or a larger corpus.");

        int documentCount = CountDocumentsBefore(train.DocumentStarts, uniqueTokens);
        long[] starts = train.DocumentStarts[..documentCount].ToArray();
        var lengths = new int[documentCount];
        for (int document = 0; document < documentCount; document++)
        {
            long length = Math.Min(train.DocumentLength(document), uniqueTokens - starts[document]);
            lengths[document] = checked((int)length);
        }
        bool lastCut = lengths[^1] < train.DocumentLength(documentCount - 1);

        long entryCount = (long)epochs * documentCount;
        if (entryCount > Array.MaxLength)
            throw new InvalidInputException($"{epochs} epochs of {documentCount:N0} documents is too many document copies ({entryCount:N0}) for one plan.");
        long totalTokens = uniqueTokens * epochs;
        long windowCount = (totalTokens - 1) / sequenceLength;
        if (windowCount < 1)
            throw new InvalidInputException($"U*E = {totalTokens} tokens make no window of L+1 = {sequenceLength + 1} tokens.");
        if (windowCount > Array.MaxLength) throw new InvalidInputException($"{windowCount:N0} windows are too many for one plan; use a longer sequence.");

        var order = new int[entryCount];
        for (int epoch = 0; epoch < epochs; epoch++)
            for (int document = 0; document < documentCount; document++) order[(long)epoch * documentCount + document] = document;
        new SeededRandom(seed, DocumentOrderStream).Shuffle(order);

        var firstEntry = new int[windowCount];
        var firstOffset = new int[windowCount];
        long entryStart = 0;
        int entry = 0;
        for (long window = 0; window < windowCount; window++)
        {
            long windowStart = window * sequenceLength;
            while (entryStart + lengths[order[entry]] <= windowStart) entryStart += lengths[order[entry++]];
            firstEntry[window] = entry;
            firstOffset[window] = (int)(windowStart - entryStart);
        }

        var windowOrder = new int[windowCount];
        for (int window = 0; window < windowOrder.Length; window++) windowOrder[window] = window;
        new SeededRandom(seed, WindowOrderStream).Shuffle(windowOrder);

        return new EpochPlan(train, uniqueTokens, epochs, sequenceLength, seed, starts, lengths, order, firstEntry, firstOffset, windowOrder)
        {
            LastDocumentCut = lastCut,
        };
    }

    /// <summary>The tokens of the window at position `position` of the shuffled order (L+1 of them).</summary>
    public void CopyWindow(long position, Span<uint> destination)
    {
        if ((ulong)position >= (ulong)WindowCount) throw new ArgumentOutOfRangeException(nameof(position), position, $"the plan has {WindowCount} windows");
        if (destination.Length != WindowLength) throw new ArgumentException($"a window holds {WindowLength} tokens, the destination {destination.Length}");
        int window = windowOrder[position];
        int entry = windowFirstEntry[window];
        int offset = windowFirstOffset[window];
        int filled = 0;
        while (filled < destination.Length)
        {
            int document = documentOrder[entry];
            int count = Math.Min(destination.Length - filled, documentLengths[document] - offset);
            train.CopyTokens(documentStarts[document] + offset, destination.Slice(filled, count));
            filled += count;
            entry++;
            offset = 0;
        }
    }

    /// <summary>Batch `batchIndex` as batchSize windows of L+1 tokens, row-major [batchSize, L+1].</summary>
    public void CopyBatch(long batchIndex, int batchSize, Span<uint> destination)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize));
        if ((ulong)batchIndex >= (ulong)BatchCount(batchSize))
            throw new ArgumentOutOfRangeException(nameof(batchIndex), batchIndex, $"the plan has {BatchCount(batchSize)} batches of {batchSize}");
        if (destination.Length != batchSize * WindowLength) throw new ArgumentException($"a batch holds {batchSize * WindowLength} tokens, the destination {destination.Length}");
        for (int row = 0; row < batchSize; row++)
            CopyWindow(batchIndex * batchSize + row, destination.Slice(row * WindowLength, WindowLength));
    }

    public uint[] GetBatch(long batchIndex, int batchSize)
    {
        var tokens = new uint[batchSize * WindowLength];
        CopyBatch(batchIndex, batchSize, tokens);
        return tokens;
    }

    private static int CountDocumentsBefore(ReadOnlySpan<long> starts, long tokenIndex)
    {
        int found = starts.BinarySearch(tokenIndex);
        return found >= 0 ? found : ~found;
    }
}
