namespace VkDiffusion.Runtime.Reference;

/// <summary>Plain double-precision softmax cross-entropy: the oracle for <see cref="Kernels.CrossEntropyKernels"/>.</summary>
public static class CrossEntropyReference
{
    /// <summary>logsumexp(row) - row[target], in double with the maximum subtracted.</summary>
    public static double NegativeLogLikelihood(ReadOnlySpan<float> row, uint target)
    {
        double max = double.NegativeInfinity;
        foreach (float x in row) max = Math.Max(max, x);
        double sum = 0;
        foreach (float x in row) sum += Math.Exp(x - max);
        return max + Math.Log(sum) - row[(int)target];
    }

    /// <summary>Evaluation: losses[r] = nll of row r.</summary>
    public static double[] Forward(ReadOnlySpan<float> logits, ReadOnlySpan<uint> targets, int rowCount, int vocabSize)
    {
        var losses = new double[rowCount];
        for (int row = 0; row < rowCount; row++)
            losses[row] = NegativeLogLikelihood(logits.Slice(row * vocabSize, vocabSize), targets[row]);
        return losses;
    }

    /// <summary>
    /// Training: losses[r] = weights[r] * nll * lossScale and gradient[r, :] = (softmax - onehot) *
    /// weights[r] * lossScale (the derivative of losses[r] with respect to logits[r, :]).
    /// </summary>
    public static (double[] Losses, double[] Gradient) ForwardBackward(ReadOnlySpan<float> logits, ReadOnlySpan<uint> targets,
        ReadOnlySpan<float> weights, int rowCount, int vocabSize, float lossScale)
    {
        var losses = new double[rowCount];
        var gradient = new double[rowCount * vocabSize];
        for (int row = 0; row < rowCount; row++)
        {
            double factor = (double)weights[row] * lossScale;
            if (factor == 0) continue;
            ReadOnlySpan<float> values = logits.Slice(row * vocabSize, vocabSize);
            double max = double.NegativeInfinity;
            foreach (float x in values) max = Math.Max(max, x);
            double sum = 0;
            foreach (float x in values) sum += Math.Exp(x - max);
            double logSumExp = max + Math.Log(sum);
            losses[row] = factor * (logSumExp - values[(int)targets[row]]);
            for (int i = 0; i < vocabSize; i++)
                gradient[row * vocabSize + i] = factor * (Math.Exp(values[i] - logSumExp) - (i == targets[row] ? 1 : 0));
        }
        return (losses, gradient);
    }
}
