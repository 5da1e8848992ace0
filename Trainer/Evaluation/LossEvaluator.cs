using VkDiffusion.Trainer.Data;
using VkDiffusion.Model;

namespace VkDiffusion.Trainer.Evaluation;

/// <summary>A validation loss: nats per token, the number of scored tokens, and for MDM the Monte Carlo settings.</summary>
/// <param name="StandardError">MDM: the Monte Carlo standard error of <paramref name="Loss"/> over the draws of t and
/// the masks, the windows held fixed (what separates it from an AR loss on the same windows); null with one sample per
/// sequence. AR: 0, its NLL is exact.</param>
public sealed record EvaluationResult(double Loss, long Tokens, int MonteCarloSamples, ulong Seed, double? StandardError)
{
    /// <summary>exp(loss): the perplexity (AR) or an upper bound on it (MDM).</summary>
    public double Perplexity => Math.Exp(Loss);
}

/// <summary>
/// Validation losses (PAPER §3). AR: the exact mean next-token NLL. MDM: a Monte Carlo estimate of the
/// weighted masked loss, an upper bound on the NLL per token: each sequence is scored K times with t on
/// a stratified grid t_j = (u0 + j/K) mod 1 and fresh Bernoulli masks.
/// </summary>
public sealed class LossEvaluator
{
    private const double MaskEpsilon = 1e-3;
    private readonly TransformerSession session;

    /// <param name="session">A <see cref="GraphMode.RowLosses"/> session of the model to evaluate.</param>
    public LossEvaluator(TransformerSession session)
    {
        if (session.Model.Mode != GraphMode.RowLosses) throw new ArgumentException("the evaluator needs a row-loss graph");
        this.session = session;
    }

    private int BatchSize => session.Model.BatchSize;
    private int SequenceLength => session.Model.SequenceLength;

    /// <summary>AR: each window holds L+1 tokens; inputs are the first L, targets the last L.</summary>
    public EvaluationResult EvaluateAutoregressive(IReadOnlyList<uint[]> windows)
    {
        double total = 0;
        long tokens = 0;
        int length = SequenceLength;
        foreach (var batch in Batches(windows))
        {
            var inputs = new uint[BatchSize * length];
            var targets = new uint[BatchSize * length];
            for (int row = 0; row < batch.Count; row++)
            {
                Array.Copy(batch[row], 0, inputs, row * length, length);
                Array.Copy(batch[row], 1, targets, row * length, length);
            }
            float[] losses = RunRows(inputs, targets);
            for (int i = 0; i < batch.Count * length; i++) total += losses[i];
            tokens += batch.Count * length;
        }
        return new EvaluationResult(total / Math.Max(1, tokens), tokens, 0, 0, 0);
    }

    /// <summary>MDM: each window's first L tokens are a sequence; K stratified samples of t per sequence.</summary>
    public EvaluationResult EvaluateMaskedDiffusion(IReadOnlyList<uint[]> windows, int samples, ulong seed)
    {
        if (samples < 1) throw new ArgumentOutOfRangeException(nameof(samples), "need at least one Monte Carlo sample");
        int length = SequenceLength;
        uint maskId = (uint)session.Model.Config.Vocabulary.MaskId;
        double total = 0;
        long scored = 0;
        // Per sequence, the sum and sum of squares of its K sample losses: the estimate is the mean over sequences of
        // their K-sample means, so its variance given the windows is the sum of their variances over the count squared.
        var sums = new double[windows.Count];
        var squares = new double[windows.Count];
        var corrupted = new List<(uint[] Tokens, double[] Weights)>();
        for (int sequence = 0; sequence < windows.Count; sequence++)
        {
            var random = new SeededRandom(seed, (ulong)sequence);
            double u0 = random.NextDouble();
            for (int j = 0; j < samples; j++)
            {
                double t = (u0 + (double)j / samples) % 1.0;
                double p = (1 - MaskEpsilon) * t + MaskEpsilon;
                var tokens = new uint[length];
                var weights = new double[length];
                for (int i = 0; i < length; i++)
                {
                    bool masked = random.NextDouble() < p;
                    tokens[i] = masked ? maskId : windows[sequence][i];
                    weights[i] = masked ? 1 / p : 0;
                }
                corrupted.Add((tokens, weights));
            }
        }
        for (int start = 0; start < corrupted.Count; start += BatchSize)
        {
            int count = Math.Min(BatchSize, corrupted.Count - start);
            var inputs = new uint[BatchSize * length];
            var targets = new uint[BatchSize * length];
            for (int row = 0; row < count; row++)
            {
                Array.Copy(corrupted[start + row].Tokens, 0, inputs, row * length, length);
                int sequence = (start + row) / samples;
                Array.Copy(windows[sequence], 0, targets, row * length, length);
            }
            float[] losses = RunRows(inputs, targets);
            for (int row = 0; row < count; row++)
            {
                double[] weights = corrupted[start + row].Weights;
                double sum = 0;
                for (int i = 0; i < length; i++)
                    if (weights[i] > 0) sum += weights[i] * losses[row * length + i];
                total += sum / length;
                scored++;
                int sequence = (start + row) / samples;
                sums[sequence] += sum / length;
                squares[sequence] += sum / length * (sum / length);
            }
        }
        return new EvaluationResult(total / Math.Max(1, scored), (long)windows.Count * length, samples, seed,
            MonteCarloStandardError(sums, squares, samples));
    }

    /// <summary>
    /// sqrt(sum over sequences of s_i^2 / K) / S, with s_i^2 the sample variance of sequence i's K losses. The draws of t
    /// are stratified, which only lowers the true variance, so this treats them as independent and errs high.
    /// </summary>
    private static double? MonteCarloStandardError(double[] sums, double[] squares, int samples)
    {
        if (samples < 2 || sums.Length == 0) return null;
        double variance = 0;
        for (int sequence = 0; sequence < sums.Length; sequence++)
        {
            double mean = sums[sequence] / samples;
            variance += Math.Max(0, squares[sequence] - samples * mean * mean) / (samples - 1) / samples;
        }
        return Math.Sqrt(variance) / sums.Length;
    }

    /// <summary>Runs one batch (rows beyond the data are padding) and returns the per-position NLL.</summary>
    public float[] RunRows(uint[] inputs, uint[] targets)
    {
        session.WriteInputs(0, inputs, targets, Positions(BatchSize, SequenceLength));
        session.Run();
        return session.ReadRowLosses();
    }

    public static uint[] Positions(int batchSize, int sequenceLength)
    {
        var positions = new uint[batchSize * sequenceLength];
        for (int i = 0; i < positions.Length; i++) positions[i] = (uint)(i % sequenceLength);
        return positions;
    }

    private IEnumerable<List<uint[]>> Batches(IReadOnlyList<uint[]> windows)
    {
        for (int start = 0; start < windows.Count; start += BatchSize)
            yield return windows.Skip(start).Take(BatchSize).ToList();
    }
}
