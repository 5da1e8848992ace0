using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// The unfused attention baseline the fused kernels are measured against: S = Q Kᵀ / √d materialised as
/// [batch, heads, T, T], softmax in place (→ P), O = P V; backward dV = Pᵀ dO, dP = dO Vᵀ,
/// dS = P ∘ (dP − rowsum(P ∘ dP)) / √d, dQ = dS K, dK = dSᵀ Q. Same qkv / output / dQkv layouts as
/// <see cref="AttentionKernels"/>. Uses its own small kernels (attention_unfused_*), not the production
/// matmul; causal is a mask in the softmax (every block is computed). No batch chunking: each T×T
/// buffer must fit one binding.
/// </summary>
public static class UnfusedAttention
{
    private const uint TileX = 8, TileY = 8, RowWorkgroupSize = 64, MaxRowGroups = 4096;

    private readonly record struct MatrixView(uint Base, uint BatchStride, uint HeadStride, uint RowStride, uint ColStride);

    private readonly record struct MatmulPush(uint M, uint N, uint K, uint HeadCount, float Alpha, MatrixView A, MatrixView B,
        uint CBase, uint CBatch, uint CHead, uint CRow);

    private readonly record struct SoftmaxPush(uint RowCount, uint SequenceLength, uint Causal);

    private readonly record struct SoftmaxGradPush(uint RowCount, uint SequenceLength, float Scale);

    /// <summary>Bytes of one [batch, heads, T, T] fp32 matrix: forward needs one (P), backward a second (dP, then dS).</summary>
    public static long ScoresBytes(int batchCount, int sequenceLength, int headCount) =>
        (long)batchCount * headCount * sequenceLength * sequenceLength * sizeof(float);

    /// <summary>output = attention(qkv); scores receives P, which <see cref="Backward"/> reads.</summary>
    public static void Forward(CommandList c, BufferSlice qkv, BufferSlice output, BufferSlice scores,
        int batchCount, int sequenceLength, int headCount, int headDim, bool causal)
    {
        var layout = new Layout(sequenceLength, headCount, headDim);
        BufferSlice p = scores.Slice(0, ScoresBytes(batchCount, sequenceLength, headCount));
        Matmul(c, qkv, qkv, p, layout.Q, layout.Transposed(layout.K), layout.Scores, sequenceLength, sequenceLength, headDim, batchCount, headCount, layout.Scale);
        uint rowCount = (uint)(batchCount * headCount * sequenceLength);
        c.Dispatch(c.Context.Kernels.Get("attention_unfused_softmax", RowWorkgroupSize), RowGroups(rowCount), 1, 1,
            new SoftmaxPush(rowCount, (uint)sequenceLength, causal ? 1u : 0u), Binding.Write(p));
        Matmul(c, p, qkv, output, layout.Scores, layout.V, layout.Rows, sequenceLength, headDim, sequenceLength, batchCount, headCount, 1f);
    }

    /// <summary>dQkv (overwritten) from dOutput and the forward's P in <paramref name="scores"/>; dScores is scratch of the same size.</summary>
    public static void Backward(CommandList c, BufferSlice qkv, BufferSlice scores, BufferSlice dOutput, BufferSlice dQkv, BufferSlice dScores,
        int batchCount, int sequenceLength, int headCount, int headDim)
    {
        var layout = new Layout(sequenceLength, headCount, headDim);
        long scoreBytes = ScoresBytes(batchCount, sequenceLength, headCount);
        BufferSlice p = scores.Slice(0, scoreBytes), dS = dScores.Slice(0, scoreBytes);
        int T = sequenceLength;
        Matmul(c, p, dOutput, dQkv, layout.Transposed(layout.Scores), layout.Rows, layout.V, T, headDim, T, batchCount, headCount, 1f);
        Matmul(c, dOutput, qkv, dS, layout.Rows, layout.Transposed(layout.V), layout.Scores, T, T, headDim, batchCount, headCount, 1f);
        uint rowCount = (uint)(batchCount * headCount * T);
        c.Dispatch(c.Context.Kernels.Get("attention_unfused_softmax_bwd", RowWorkgroupSize), RowGroups(rowCount), 1, 1,
            new SoftmaxGradPush(rowCount, (uint)T, layout.Scale), Binding.Read(p), Binding.Write(dS));
        Matmul(c, dS, qkv, dQkv, layout.Scores, layout.K, layout.Q, T, headDim, T, batchCount, headCount, 1f);
        Matmul(c, dS, qkv, dQkv, layout.Transposed(layout.Scores), layout.Q, layout.K, T, headDim, T, batchCount, headCount, 1f);
    }

    /// <summary>Views of the Q, K, V parts of qkv, of [T, heads, d] rows and of T×T matrices, per (batch, head).</summary>
    private readonly record struct Layout(int T, int H, int D)
    {
        private uint Token => (uint)(3 * H * D);
        public MatrixView Q => new(0, (uint)T * Token, (uint)D, Token, 1);
        public MatrixView K => new((uint)(H * D), (uint)T * Token, (uint)D, Token, 1);
        public MatrixView V => new((uint)(2 * H * D), (uint)T * Token, (uint)D, Token, 1);
        public MatrixView Rows => new(0, (uint)(T * H * D), (uint)D, (uint)(H * D), 1);
        public MatrixView Scores => new(0, (uint)(H * T * T), (uint)(T * T), (uint)T, 1);
        public float Scale => 1f / MathF.Sqrt(D);
        public MatrixView Transposed(MatrixView view) => view with { RowStride = view.ColStride, ColStride = view.RowStride };
    }

    private static void Matmul(CommandList c, BufferSlice a, BufferSlice b, BufferSlice destination, MatrixView aView, MatrixView bView,
        MatrixView cView, int m, int n, int k, int batchCount, int headCount, float alpha)
    {
        var push = new MatmulPush((uint)m, (uint)n, (uint)k, (uint)headCount, alpha, aView, bView, cView.Base, cView.BatchStride, cView.HeadStride, cView.RowStride);
        uint groupsX = (uint)((n + 4 * TileX - 1) / (4 * TileX)), groupsY = (uint)((m + 4 * TileY - 1) / (4 * TileY));
        c.Dispatch(c.Context.Kernels.Get("attention_unfused_matmul", TileX, TileY), groupsX, groupsY, (uint)(batchCount * headCount), push,
            Binding.Read(a), Binding.Read(b), Binding.Write(destination));
    }

    private static uint RowGroups(uint rowCount) => Math.Clamp((rowCount + RowWorkgroupSize - 1) / RowWorkgroupSize, 1, MaxRowGroups);
}
