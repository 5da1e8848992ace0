namespace VkDiffusion.Model;

/// <summary>Which masked positions an MDM sampling step reveals (see <see cref="Sampler.SampleMaskedDiffusion"/>).</summary>
public enum UnmaskingOrder
{
    /// <summary>The most confident predictions of the step (the reference's greedy order).</summary>
    Confidence,
    /// <summary>A uniformly random subset of the masked positions, chosen before predicting: the standard MDM ancestral sampler.</summary>
    Random,
    /// <summary>Low-confidence remasking: new predictions compete with earlier ones (by the confidence they had when made); the least confident are masked again.</summary>
    Remask,
}

/// <summary>Generation knobs: tokens to generate, MDM unmasking steps, temperature (0 = greedy), top-k (0 = all), seed, MDM unmasking order.</summary>
public sealed record SamplingOptions(int Length, int Steps, float Temperature, int TopK, int Seed, UnmaskingOrder Order = UnmaskingOrder.Confidence);

/// <summary>
/// Generation (PAPER §3). AR: one token at a time, left to right. MDM: every target position starts masked; step s
/// of S leaves M - ceil(M/(S - s)) of the M masked positions masked, so none is left after S steps; which positions
/// are revealed depends on <see cref="SamplingOptions.Order"/> (the reference unmasks one per step, greedily).
/// </summary>
public static class Sampler
{
    /// <param name="session">A <see cref="GraphMode.Logits"/> session with batch 1 and sequence length prompt + length.</param>
    public static uint[] SampleAutoregressive(TransformerSession session, IReadOnlyList<uint> prompt, SamplingOptions options, Action<uint>? onToken = null)
    {
        VocabularySpec vocabulary = session.Model.Config.Vocabulary;
        // With no prompt, generation starts after an end-of-document token, as a fresh document would.
        var tokens = new List<uint>(prompt.Count > 0 ? prompt : [(uint)vocabulary.EndOfDocumentId]);
        int length = session.Model.SequenceLength;
        if (tokens.Count + options.Length - 1 > length)
            throw new ArgumentException($"prompt ({tokens.Count}) + length ({options.Length}) exceed the graph's sequence length {length}");
        var random = new Random(options.Seed);
        var generated = new List<uint>();
        for (int step = 0; step < options.Length; step++)
        {
            float[] logits = Forward(session, tokens);
            int row = tokens.Count - 1;
            (uint token, _) = Draw(logits.AsSpan(row * vocabulary.PaddedSize, vocabulary.PaddedSize), vocabulary, options, random);
            tokens.Add(token);
            generated.Add(token);
            onToken?.Invoke(token);
        }
        return [.. generated];
    }

    /// <param name="session">A <see cref="GraphMode.Logits"/> session with batch 1 and sequence length prompt + length.</param>
    /// <param name="onStep">Called after each step with the whole sequence (masked positions hold the mask id).</param>
    public static uint[] SampleMaskedDiffusion(TransformerSession session, IReadOnlyList<uint> prompt, SamplingOptions options, Action<uint[]>? onStep = null)
    {
        VocabularySpec vocabulary = session.Model.Config.Vocabulary;
        int total = prompt.Count + options.Length;
        if (total != session.Model.SequenceLength)
            throw new ArgumentException($"prompt ({prompt.Count}) + length ({options.Length}) must equal the graph's sequence length {session.Model.SequenceLength}");
        if (options.Steps < 1) throw new ArgumentOutOfRangeException(nameof(options), "MDM sampling needs at least one step");
        var tokens = new uint[total];
        for (int i = 0; i < total; i++) tokens[i] = i < prompt.Count ? prompt[i] : (uint)vocabulary.MaskId;
        var random = new Random(options.Seed);
        int steps = Math.Min(options.Steps, options.Length);
        // Remask: the confidence each revealed position had when its token was drawn.
        var confidence = new double[total];
        for (int step = 0; step < steps; step++)
        {
            var masked = Enumerable.Range(0, total).Where(i => tokens[i] == vocabulary.MaskId).ToList();
            if (masked.Count == 0) break;
            int reveal = (int)Math.Ceiling((double)masked.Count / (steps - step));
            // Random order picks the positions before predicting, so the pattern depends on the seed alone.
            var positions = options.Order == UnmaskingOrder.Random ? RandomSubset(masked, reveal, random) : masked;
            float[] logits = Forward(session, tokens);
            var drawn = positions
                .Select(position => (Position: position, Draw: Draw(logits.AsSpan(position * vocabulary.PaddedSize, vocabulary.PaddedSize), vocabulary, options, random)))
                .ToList();
            foreach (var (position, draw) in drawn)
            {
                tokens[position] = draw.Token;
                confidence[position] = draw.Probability;
            }
            if (options.Order != UnmaskingOrder.Random)
            {
                // Confidence competes among this step's draws; remask also lets them displace earlier, less confident ones.
                var pool = options.Order == UnmaskingOrder.Remask ? Enumerable.Range(prompt.Count, options.Length).ToList() : masked;
                int keep = pool.Count - (masked.Count - reveal);
                var kept = MostConfident(pool.Select(position => (position, confidence[position])).ToList(), keep).ToHashSet();
                foreach (int position in pool.Where(position => !kept.Contains(position))) tokens[position] = (uint)vocabulary.MaskId;
            }
            onStep?.Invoke((uint[])tokens.Clone());
        }
        return tokens[prompt.Count..];
    }

    /// <summary>The positions of the <paramref name="count"/> highest confidences (ties: the earlier position).</summary>
    public static IEnumerable<int> MostConfident(IReadOnlyList<(int Position, double Confidence)> candidates, int count) =>
        candidates.OrderByDescending(c => c.Confidence).ThenBy(c => c.Position).Take(count).Select(c => c.Position);

    /// <summary>A uniformly random <paramref name="count"/>-subset of the positions (a partial Fisher-Yates shuffle), in draw order.</summary>
    public static IReadOnlyList<int> RandomSubset(IReadOnlyList<int> positions, int count, Random random)
    {
        var pool = positions.ToArray();
        for (int i = 0; i < count; i++)
        {
            int pick = random.Next(i, pool.Length);
            (pool[i], pool[pick]) = (pool[pick], pool[i]);
        }
        return pool[..count];
    }

    private static float[] Forward(TransformerSession session, IReadOnlyList<uint> tokens)
    {
        int length = session.Model.SequenceLength;
        var inputs = new uint[length];
        var positions = new uint[length];
        for (int i = 0; i < length; i++)
        {
            // Positions past the known tokens are padding; the causal mask keeps them out of AR predictions.
            inputs[i] = i < tokens.Count ? tokens[i] : (uint)session.Model.Config.Vocabulary.EndOfDocumentId;
            positions[i] = (uint)i;
        }
        session.WriteInputs(0, inputs, inputs, positions);
        session.Run();
        return session.ReadLogits();
    }

    /// <summary>
    /// Draws one token from a row of logits over the real vocabulary (mask and padding ids excluded) with
    /// temperature and top-k; returns it with its probability under the tempered distribution.
    /// </summary>
    public static (uint Token, double Probability) Draw(ReadOnlySpan<float> logits, VocabularySpec vocabulary, SamplingOptions options, Random random)
    {
        int valid = vocabulary.MaskId;
        var order = Enumerable.Range(0, valid).ToArray();
        var values = logits[..valid].ToArray();
        Array.Sort(values.Select(v => -v).ToArray(), order);
        if (options.Temperature <= 0)
        {
            double max = values[order[0]];
            double sum = values.Sum(v => Math.Exp(v - max));
            return ((uint)order[0], 1 / sum);
        }
        int keep = options.TopK > 0 ? Math.Min(options.TopK, valid) : valid;
        double top = values[order[0]] / options.Temperature;
        var weights = new double[keep];
        for (int i = 0; i < keep; i++) weights[i] = Math.Exp(values[order[i]] / options.Temperature - top);
        double total = weights.Sum();
        double u = random.NextDouble() * total;
        for (int i = 0; i < keep; i++)
        {
            u -= weights[i];
            if (u <= 0) return ((uint)order[i], weights[i] / total);
        }
        return ((uint)order[keep - 1], weights[keep - 1] / total);
    }
}
