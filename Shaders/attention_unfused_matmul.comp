#version 450
// attention_unfused_matmul: the small strided batched matmul of the UNFUSED attention baseline only
// (Runtime/Kernels/UnfusedAttention.cs, which the attention benchmark compares the fused kernels with);
// private to that baseline, not the production matmul.
//   C[z](m, n) = alpha * sum_k A[z](m, k) * B[z](k, n)   for z = batch * H + head
// Every operand is addressed through strides, so Q, K, V slices of qkv, their transposes and the T x T
// score matrices are read in place: X[z](r, c) = x[base + (z / H) * batchStride + (z % H) * headStride
// + r * rowStride + c * colStride] (C has colStride 1).
// Each invocation computes a 4 x 4 register tile; no shared memory (what lavapipe runs best).
// Grid: x = ceil(N / (4 * TILE_X)), y = ceil(M / (4 * TILE_Y)), z = batch * H.
// Bindings: 0 A (read), 1 B (read), 2 C (written).
// Push: M, N, K, H, alpha, then base/batchStride/headStride/rowStride/colStride of A and B, and
// base/batchStride/headStride/rowStride of C (elements).
// Spec: 0 = TILE_X, 1 = TILE_Y (invocations per group along n and m).
#include "common.glsl"
layout(constant_id = 0) const uint TILE_X = 8;
layout(constant_id = 1) const uint TILE_Y = 8;
layout(local_size_x_id = 0, local_size_y_id = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer A { float a[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { float b[]; };
layout(std430, set = 0, binding = 2) writeonly buffer C { float c[]; };
layout(push_constant) uniform Push {
    uint M, N, K, H;
    float alpha;
    uint aBase, aBatch, aHead, aRow, aCol;
    uint bBase, bBatch, bHead, bRow, bCol;
    uint cBase, cBatch, cHead, cRow;
} pc;

void main() {
    uint z = gl_WorkGroupID.z, batch = z / pc.H, head = z % pc.H;
    uint aStart = pc.aBase + batch * pc.aBatch + head * pc.aHead;
    uint bStart = pc.bBase + batch * pc.bBatch + head * pc.bHead;
    uint cStart = pc.cBase + batch * pc.cBatch + head * pc.cHead;
    uint m0 = gl_GlobalInvocationID.y * 4u, n0 = gl_GlobalInvocationID.x * 4u;
    if (m0 >= pc.M || n0 >= pc.N) return;
    // Clamp out-of-range rows and columns onto valid ones; their results are not stored.
    uint rows[4], cols[4];
    [[unroll]] for (uint r = 0; r < 4u; r++) {
        rows[r] = aStart + min(m0 + r, pc.M - 1u) * pc.aRow;
        cols[r] = bStart + min(n0 + r, pc.N - 1u) * pc.bCol;
    }
    float sum[4][4];
    [[unroll]] for (uint r = 0; r < 4u; r++) [[unroll]] for (uint s = 0; s < 4u; s++) sum[r][s] = 0.0;
    for (uint k = 0; k < pc.K; k++) {
        float x[4], y[4];
        [[unroll]] for (uint r = 0; r < 4u; r++) {
            x[r] = a[rows[r] + k * pc.aCol];
            y[r] = b[cols[r] + k * pc.bRow];
        }
        [[unroll]] for (uint r = 0; r < 4u; r++) [[unroll]] for (uint s = 0; s < 4u; s++) sum[r][s] += x[r] * y[s];
    }
    [[unroll]] for (uint r = 0; r < 4u; r++) {
        if (m0 + r >= pc.M) break;
        [[unroll]] for (uint s = 0; s < 4u; s++)
            if (n0 + s < pc.N) c[cStart + (m0 + r) * pc.cRow + n0 + s] = pc.alpha * sum[r][s];
    }
}
