namespace VkDiffusion.Model;

/// <summary>Generation knobs: tokens to generate, MDM unmasking steps, temperature (0 = greedy), top-k (0 = all), seed.</summary>
public sealed record SamplingOptions(int Length, int Steps, float Temperature, int TopK, int Seed);

/// <summary>
/// Generation (PAPER §3). AR: one token at a time, left to right. MDM: every target position starts
/// masked; each step predicts all masked positions and unmasks the most confident ones, so that after
/// <see cref="SamplingOptions.Steps"/> steps none is left (the reference unmasks one per step, greedily).
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
        for (int step = 0; step < steps; step++)
        {
            var masked = Enumerable.Range(0, total).Where(i => tokens[i] == vocabulary.MaskId).ToList();
            if (masked.Count == 0) break;
            float[] logits = Forward(session, tokens);
            var candidates = masked
                .Select(position => (Position: position, Draw: Draw(logits.AsSpan(position * vocabulary.PaddedSize, vocabulary.PaddedSize), vocabulary, options, random)))
                .OrderByDescending(c => c.Draw.Probability)
                .ThenBy(c => c.Position)
                .ToList();
            int reveal = (int)Math.Ceiling((double)masked.Count / (steps - step));
            foreach (var candidate in candidates.Take(reveal)) tokens[candidate.Position] = candidate.Draw.Token;
            onStep?.Invoke((uint[])tokens.Clone());
        }
        return tokens[prompt.Count..];
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
