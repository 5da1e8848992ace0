using VkDiffusion.Trainer.Data;
using VkDiffusion.Model;
using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Evaluation;

/// <summary>How an MDM scores a continuation (PAPER §3).</summary>
public enum MdmScoring
{
    /// <summary>Monte Carlo bound: only continuation positions masked, stratified t, eps 0, K samples.</summary>
    MonteCarlo,
    /// <summary>Chain rule: reveal the continuation one token at a time, left to right.</summary>
    Chain,
}

/// <summary>
/// Log-likelihood of a continuation given a context, for ranking multiple-choice answers. AR: the sum of
/// the continuation's log-probabilities. MDM: a Monte Carlo lower bound or the chain rule.
/// </summary>
public sealed class ChoiceScorer(GpuContext context, ModelConfig config, Objective objective, IReadOnlyDictionary<string, float[]> weights,
    MdmScoring scoring, int monteCarloSamples, int seed, Precision precision = Precision.Fp32) : IDisposable
{
    private readonly Dictionary<(int Batch, int Length), TransformerSession> sessions = [];

    public double LogLikelihood(IReadOnlyList<uint> contextTokens, IReadOnlyList<uint> continuation)
    {
        if (continuation.Count == 0) throw new InvalidInputException("a choice must have at least one token");
        return objective == Objective.Ar ? Autoregressive(contextTokens, continuation)
            : scoring == MdmScoring.MonteCarlo ? MonteCarlo(contextTokens, continuation)
            : Chain(contextTokens, continuation);
    }

    private double Autoregressive(IReadOnlyList<uint> contextTokens, IReadOnlyList<uint> continuation)
    {
        // With no context the continuation is predicted from an end-of-document token, as a document start.
        var sequence = (contextTokens.Count > 0 ? contextTokens : [(uint)config.Vocabulary.EndOfDocumentId]).Concat(continuation).ToArray();
        int length = sequence.Length - 1;
        float[] losses = RunRows(1, length, sequence[..^1], sequence[1..]);
        int first = sequence.Length - continuation.Count - 1;
        double total = 0;
        for (int i = first; i < length; i++) total -= losses[i];
        return total;
    }

    private double MonteCarlo(IReadOnlyList<uint> contextTokens, IReadOnlyList<uint> continuation)
    {
        uint[] sequence = [.. contextTokens, .. continuation];
        int length = sequence.Length, start = contextTokens.Count, samples = monteCarloSamples;
        var random = new SeededRandom((ulong)seed, ((ulong)length << 32) | (uint)continuation.Count);
        double u0 = random.NextDouble();
        var inputs = new uint[samples * length];
        var targets = new uint[samples * length];
        var weightsPerRow = new double[samples * length];
        for (int j = 0; j < samples; j++)
        {
            // eps = 0 for scoring; t = 0 would mask nothing and weigh infinity, so it is nudged off zero.
            double p = Math.Max((u0 + (double)j / samples) % 1.0, 1e-6);
            for (int i = 0; i < length; i++)
            {
                bool masked = i >= start && random.NextDouble() < p;
                inputs[j * length + i] = masked ? (uint)config.Vocabulary.MaskId : sequence[i];
                targets[j * length + i] = sequence[i];
                weightsPerRow[j * length + i] = masked ? 1 / p : 0;
            }
        }
        float[] losses = RunRows(samples, length, inputs, targets);
        double total = 0;
        for (int i = 0; i < losses.Length && i < weightsPerRow.Length; i++) total -= weightsPerRow[i] * losses[i];
        return total / samples;
    }

    private double Chain(IReadOnlyList<uint> contextTokens, IReadOnlyList<uint> continuation)
    {
        uint[] sequence = [.. contextTokens, .. continuation];
        int length = sequence.Length, start = contextTokens.Count, steps = continuation.Count;
        var inputs = new uint[steps * length];
        var targets = new uint[steps * length];
        for (int k = 0; k < steps; k++)
            for (int i = 0; i < length; i++)
            {
                inputs[k * length + i] = i < start + k ? sequence[i] : (uint)config.Vocabulary.MaskId;
                targets[k * length + i] = sequence[i];
            }
        float[] losses = RunRows(steps, length, inputs, targets);
        double total = 0;
        for (int k = 0; k < steps; k++) total -= losses[k * length + start + k];
        return total;
    }

    private float[] RunRows(int batch, int length, uint[] inputs, uint[] targets)
    {
        if (!sessions.TryGetValue((batch, length), out TransformerSession? session))
        {
            session = new TransformerSession(context, TransformerGraph.Build(config, objective, GraphMode.RowLosses, batch, length, context.Info,
                precision: precision));
            session.LoadParameters(weights);
            sessions[(batch, length)] = session;
        }
        session.WriteInputs(0, inputs, targets, LossEvaluator.Positions(batch, length));
        session.Run();
        return session.ReadRowLosses();
    }

    public void Dispose()
    {
        foreach (TransformerSession session in sessions.Values) session.Dispose();
        sessions.Clear();
    }
}
