using System.Text;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Data;

/// <summary>
/// Learns a byte-level BPE vocabulary from documents, as GPT-2's was learned: split the text with GPT-2's
/// pre-tokenizer, count the pieces, start from the 256 bytes and repeatedly join the most frequent adjacent pair
/// (ties: the lower pair of ids) until the vocabulary has its size. A join whose bytes are already a token (the same
/// bytes reached by another split) reuses that token, so every token's bytes are distinct, as tiktoken's ranks need.
/// </summary>
public static class BytePairLearner
{
    /// <summary>
    /// The bytes of <paramref name="rankedTokens"/> tokens in rank order: the 256 single bytes (ranks 0-255, in byte
    /// order), then the joins in the order they were learned.
    /// </summary>
    public static byte[][] Learn(IEnumerable<string> documents, int rankedTokens, TextWriter? progress = null, CancellationToken cancellation = default)
    {
        if (rankedTokens < 257) throw new ArgumentOutOfRangeException(nameof(rankedTokens), rankedTokens, "a learned vocabulary holds the 256 bytes and at least one join");
        var pieceCounts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string document in documents)
        {
            cancellation.ThrowIfCancellationRequested();
            foreach (System.Text.RegularExpressions.ValueMatch piece in BytePairTokenizer.PreTokenizer.EnumerateMatches(document))
            {
                string text = document.Substring(piece.Index, piece.Length);
                pieceCounts[text] = pieceCounts.GetValueOrDefault(text) + 1;
            }
        }
        var tokens = new List<byte[]>(rankedTokens);
        for (int b = 0; b < 256; b++) tokens.Add([(byte)b]);
        var idOfBytes = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int id = 0; id < 256; id++) idOfBytes[Key(tokens[id])] = id;

        // Pieces as id sequences; one byte long pieces can never join and are left out.
        var pieces = new List<(int[] Ids, int Length, long Count)>();
        foreach (var (text, count) in pieceCounts)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(text);
            if (bytes.Length > 1) pieces.Add(([.. bytes.Select(b => (int)b)], bytes.Length, count));
        }
        var pairCounts = new Dictionary<long, long>();
        foreach (var (ids, length, count) in pieces) AddPairs(pairCounts, ids, length, count);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (tokens.Count < rankedTokens)
        {
            cancellation.ThrowIfCancellationRequested();
            long bestPair = -1, bestCount = 0;
            foreach (var (pair, count) in pairCounts)
                if (count > bestCount || (count == bestCount && count > 0 && pair < bestPair)) (bestPair, bestCount) = (pair, count);
            if (bestCount == 0)
                throw new InvalidInputException($"The training documents hold only {tokens.Count} distinct tokens' worth of byte pairs; choose --tokenizer bpe{tokens.Count + 1} or fewer, or a larger corpus.");
            int left = (int)(bestPair >> 32), right = (int)bestPair;
            byte[] joined = [.. tokens[left], .. tokens[right]];
            if (!idOfBytes.TryGetValue(Key(joined), out int joinedId))
            {
                joinedId = tokens.Count;
                tokens.Add(joined);
                idOfBytes[Key(joined)] = joinedId;
            }
            for (int p = 0; p < pieces.Count; p++)
            {
                var (ids, length, count) = pieces[p];
                if (!Contains(ids, length, left, right)) continue;
                AddPairs(pairCounts, ids, length, -count);
                int newLength = Join(ids, length, left, right, joinedId);
                AddPairs(pairCounts, ids, newLength, count);
                pieces[p] = (ids, newLength, count);
            }
            if (progress is not null && clock.Elapsed >= TimeSpan.FromSeconds(5))
            {
                progress.WriteLine($"prepare: learning the BPE: {tokens.Count:N0} of {rankedTokens:N0} tokens");
                clock.Restart();
            }
        }
        return [.. tokens];
    }

    private static string Key(byte[] bytes) => Convert.ToBase64String(bytes);

    private static long Pair(int left, int right) => ((long)left << 32) | (uint)right;

    private static void AddPairs(Dictionary<long, long> pairCounts, int[] ids, int length, long count)
    {
        for (int i = 0; i + 1 < length; i++)
        {
            long pair = Pair(ids[i], ids[i + 1]);
            long updated = pairCounts.GetValueOrDefault(pair) + count;
            if (updated == 0) pairCounts.Remove(pair);
            else pairCounts[pair] = updated;
        }
    }

    private static bool Contains(int[] ids, int length, int left, int right)
    {
        for (int i = 0; i + 1 < length; i++)
            if (ids[i] == left && ids[i + 1] == right) return true;
        return false;
    }

    /// <summary>Joins every non-overlapping (left, right), left to right, in place; returns the new length.</summary>
    private static int Join(int[] ids, int length, int left, int right, int joined)
    {
        int written = 0;
        for (int i = 0; i < length; i++)
        {
            if (i + 1 < length && ids[i] == left && ids[i + 1] == right)
            {
                ids[written++] = joined;
                i++;
            }
            else ids[written++] = ids[i];
        }
        return written;
    }
}
