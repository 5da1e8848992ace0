namespace VkDiffusion.Runtime.Reference;

/// <summary>CPU oracle of <see cref="Kernels.EmbeddingKernels"/>, in double precision.</summary>
public static class EmbeddingReference
{
    /// <summary>y[t, :] = table[tokens[t], :]; y is [tokens.Length, channelCount].</summary>
    public static double[] Forward(ReadOnlySpan<uint> tokens, ReadOnlySpan<double> table, int vocabRows, int channelCount)
    {
        var y = new double[tokens.Length * channelCount];
        for (int t = 0; t < tokens.Length; t++)
        {
            int row = RowOf(tokens[t], vocabRows);
            table.Slice(row * channelCount, channelCount).CopyTo(y.AsSpan(t * channelCount, channelCount));
        }
        return y;
    }

    /// <summary>dTable[v, :] = sum over t with tokens[t] == v of dy[t, :] (rows no token hits are zero).</summary>
    public static double[] Backward(ReadOnlySpan<uint> tokens, ReadOnlySpan<double> dy, int vocabRows, int channelCount)
    {
        var dTable = new double[vocabRows * channelCount];
        for (int t = 0; t < tokens.Length; t++)
        {
            int row = RowOf(tokens[t], vocabRows);
            for (int c = 0; c < channelCount; c++) dTable[row * channelCount + c] += dy[t * channelCount + c];
        }
        return dTable;
    }

    private static int RowOf(uint token, int vocabRows) =>
        token < vocabRows ? (int)token : throw new ArgumentOutOfRangeException(nameof(token), token, $"token id is outside the table's {vocabRows} rows");
}
