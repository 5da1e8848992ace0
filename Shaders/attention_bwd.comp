#version 450
// attention_bwd: fused attention backward, the dK/dV half (FlashAttention-2 style), parallel over key
// blocks so every dK and dV row is written by exactly one invocation (deterministic, no atomics). The
// dQ half is attention_bwd_dq; both read delta_i = rowsum(dO_i * O_i) from attention_bwd_delta.
// With S = Q K^T / sqrt(d) recomputed per query and P = exp(S - LSE) from the forward's log-sum-exp:
//   dV_j = sum_i P_ij dO_i,   dP_ij = dO_i . V_j,   dS_ij = P_ij (dP_ij - delta_i),
//   dK_j = sum_i dS_ij Q_i / sqrt(d)
// Each invocation owns ROWS key rows (their k, v and dK, dV accumulators; each loaded query row feeds all ROWS); the workgroup walks
// STAGE_BLOCK query rows (Q, dO, LSE, delta) at a time (staged in shared memory on GPUs). Causal: query
// blocks before the workgroup's first key are skipped entirely; inside the diagonal block queries before a
// key get probability exactly 0. Layouts, grid and push constants: attention_common.glsl. Writes the K and
// V parts of dQkv.
// Bindings: attention_bwd_bindings.glsl (writes the K and V parts of dQkv).
// Spec: 0 = ROW_BLOCK (invocations per workgroup), 1 = STAGE_BLOCK (query rows per step), 2 =
// STAGE_IN_SHARED, 3 = TEXEL_MODE (see attention_fwd). The _f16 / _bf16 variants read 16-bit qkv (see attention_fwd). Shared memory: (2 * HEAD_DIM + 2) * STAGE_BLOCK floats.
//! variant attention_bwd_d16 -DHEAD_DIM=16 -DROWS=1
//! variant attention_bwd_d32 -DHEAD_DIM=32 -DROWS=1
//! variant attention_bwd_d64 -DHEAD_DIM=64 -DROWS=1
//! variant attention_bwd_d128 -DHEAD_DIM=128 -DROWS=1
//! variant attention_bwd_d128_rolled -DHEAD_DIM=128 -DROWS=1 -DROLLED_HEAD_DIM=1
//! variant attention_bwd_rows8_d16 -DHEAD_DIM=16 -DROWS=8
//! variant attention_bwd_rows8_d32 -DHEAD_DIM=32 -DROWS=8
//! variant attention_bwd_rows8_d64 -DHEAD_DIM=64 -DROWS=8
//! variant attention_bwd_rows4_d128 -DHEAD_DIM=128 -DROWS=4
//! variant attention_bwd_d16_f16 -DHEAD_DIM=16 -DROWS=1 -DACT_F16=1
//! variant attention_bwd_d32_f16 -DHEAD_DIM=32 -DROWS=1 -DACT_F16=1
//! variant attention_bwd_d64_f16 -DHEAD_DIM=64 -DROWS=1 -DACT_F16=1
//! variant attention_bwd_d128_f16 -DHEAD_DIM=128 -DROWS=1 -DACT_F16=1
//! variant attention_bwd_d128_rolled_f16 -DHEAD_DIM=128 -DROWS=1 -DACT_F16=1 -DROLLED_HEAD_DIM=1
//! variant attention_bwd_rows8_d16_f16 -DHEAD_DIM=16 -DROWS=8 -DACT_F16=1
//! variant attention_bwd_rows8_d32_f16 -DHEAD_DIM=32 -DROWS=8 -DACT_F16=1
//! variant attention_bwd_rows8_d64_f16 -DHEAD_DIM=64 -DROWS=8 -DACT_F16=1
//! variant attention_bwd_rows4_d128_f16 -DHEAD_DIM=128 -DROWS=4 -DACT_F16=1
//! variant attention_bwd_d16_bf16 -DHEAD_DIM=16 -DROWS=1 -DACT_BF16=1
//! variant attention_bwd_d32_bf16 -DHEAD_DIM=32 -DROWS=1 -DACT_BF16=1
//! variant attention_bwd_d64_bf16 -DHEAD_DIM=64 -DROWS=1 -DACT_BF16=1
//! variant attention_bwd_d128_bf16 -DHEAD_DIM=128 -DROWS=1 -DACT_BF16=1
//! variant attention_bwd_d128_rolled_bf16 -DHEAD_DIM=128 -DROWS=1 -DACT_BF16=1 -DROLLED_HEAD_DIM=1
//! variant attention_bwd_rows8_d16_bf16 -DHEAD_DIM=16 -DROWS=8 -DACT_BF16=1
//! variant attention_bwd_rows8_d32_bf16 -DHEAD_DIM=32 -DROWS=8 -DACT_BF16=1
//! variant attention_bwd_rows8_d64_bf16 -DHEAD_DIM=64 -DROWS=8 -DACT_BF16=1
//! variant attention_bwd_rows4_d128_bf16 -DHEAD_DIM=128 -DROWS=4 -DACT_BF16=1
#include "attention_common.glsl"
// Query row i of the current block: Q element d, dO element d, its LSE and delta (staged, or read in
// place: STAGE_IN_SHARED).
#define QUERY(i, d) (STAGE_IN_SHARED ? queries[(i) * HEAD_DIM + (d)] : qkv_at(queryAt + (i) * stride + (d)))
#define OUT_GRAD(i, d) (STAGE_IN_SHARED ? outGrads[(i) * HEAD_DIM + (d)] : out_grad_at(outGradAt + (i) * outGradStride + (d)))
// Elements d..d+3 (d a multiple of 4).
#define QUERY4(i, d) (STAGE_IN_SHARED ? vec4(QUERY(i, d), QUERY(i, d + 1u), QUERY(i, d + 2u), QUERY(i, d + 3u)) : qkv4_at(queryAt + (i) * stride + (d)))
#define OUT_GRAD4(i, d) (STAGE_IN_SHARED ? vec4(OUT_GRAD(i, d), OUT_GRAD(i, d + 1u), OUT_GRAD(i, d + 2u), OUT_GRAD(i, d + 3u)) : out_grad4_at(outGradAt + (i) * outGradStride + (d)))
#define ROW_LSE(i) (STAGE_IN_SHARED ? rowLses[i] : lse[lseAt + (i)])
#define ROW_DELTA(i) (STAGE_IN_SHARED ? rowDeltas[i] : delta[deltaAt + (i)])

#include "attention_bwd_bindings.glsl"

shared float queries[STAGE_BLOCK * HEAD_DIM];
shared float outGrads[STAGE_BLOCK * HEAD_DIM];
shared float rowLses[STAGE_BLOCK];
shared float rowDeltas[STAGE_BLOCK];

void main() {
    uint T = pc.T;
    uint b = gl_WorkGroupID.y / pc.H, h = gl_WorkGroupID.y % pc.H;
    uint firstKey = gl_WorkGroupID.x * ROW_BLOCK * ROWS;
    // Causal: only queries at or after the group's first key see any of its keys.
    uint queryStart = pc.causal != 0u ? firstKey : 0u;

    float k[ROWS][HEAD_DIM];
    float v[ROWS][HEAD_DIM];
    float kGrad[ROWS][HEAD_DIM];
    float vGrad[ROWS][HEAD_DIM];
    uint rowQueryStart[ROWS];  // the first query that sees key row t; T for rows out of range (they see none)
    [[unroll]] for (uint t = 0; t < ROWS; t++) {
        uint key = owned_row(firstKey, t);
        rowQueryStart[t] = key >= T ? T : (pc.causal != 0u ? key : 0u);
        uint row = min(key, T - 1u);
        uint kAt = qkv_index(b, row, 1u, h), vAt = qkv_index(b, row, 2u, h);
        HEAD_DIM_UNROLL for (uint d = 0; d < HEAD_DIM; d++) {
            k[t][d] = qkv_at(kAt + d) * SCALE;
            v[t][d] = qkv_at(vAt + d);
            kGrad[t][d] = 0.0;
            vGrad[t][d] = 0.0;
        }
    }

    for (uint blockStart = queryStart; blockStart < T; blockStart += STAGE_BLOCK) {
        if (STAGE_IN_SHARED) {
            barrier();
            for (uint e = gl_LocalInvocationID.x; e < STAGE_BLOCK * HEAD_DIM; e += ROW_BLOCK) {
                uint query = blockStart + e / HEAD_DIM, d = e % HEAD_DIM;
                bool present = query < T;
                queries[e] = present ? qkv_at(qkv_index(b, query, 0u, h) + d) : 0.0;
                outGrads[e] = present ? out_grad_at(row_index(pc.outBase, b, query, h) + d) : 0.0;
            }
            for (uint i = gl_LocalInvocationID.x; i < STAGE_BLOCK; i += ROW_BLOCK) {
                uint query = blockStart + i;
                bool present = query < T;
                rowLses[i] = present ? lse[lse_index(pc.lseBase, b, h, query)] : 0.0;
                rowDeltas[i] = present ? delta[lse_index(pc.deltaBase, b, h, query)] : 0.0;
            }
            barrier();
        }
        uint queryAt = qkv_index(b, blockStart, 0u, h), stride = qkv_token_stride();
        uint outGradAt = row_index(pc.outBase, b, blockStart, h), outGradStride = pc.H * HEAD_DIM;
        uint lseAt = lse_index(pc.lseBase, b, h, blockStart), deltaAt = lse_index(pc.deltaBase, b, h, blockStart);
        uint end = min(STAGE_BLOCK, T - blockStart);
        // Uniform loop, arithmetic masking (see attention_fwd).
        for (uint i = 0; i < end; i++) {
            float query[HEAD_DIM], outGrad[HEAD_DIM];
            HEAD_DIM_UNROLL for (uint d = 0; d < HEAD_DIM; d += 4u) {
                vec4 query4 = QUERY4(i, d), outGrad4 = OUT_GRAD4(i, d);
                query[d] = query4.x; query[d + 1u] = query4.y; query[d + 2u] = query4.z; query[d + 3u] = query4.w;
                outGrad[d] = outGrad4.x; outGrad[d + 1u] = outGrad4.y; outGrad[d + 2u] = outGrad4.z; outGrad[d + 3u] = outGrad4.w;
            }
            float queryLse = ROW_LSE(i), queryDelta = ROW_DELTA(i);
            [[unroll]] for (uint t = 0; t < ROWS; t++) {
                // Four partial sums per dot product: independent chains, not one latency-bound chain.
                vec4 scores = vec4(0.0), grads = vec4(0.0);
                HEAD_DIM_UNROLL for (uint d = 0; d < HEAD_DIM; d += 4u) {
                    scores += vec4(query[d], query[d + 1u], query[d + 2u], query[d + 3u])
                            * vec4(k[t][d], k[t][d + 1u], k[t][d + 2u], k[t][d + 3u]);
                    grads += vec4(outGrad[d], outGrad[d + 1u], outGrad[d + 2u], outGrad[d + 3u])
                           * vec4(v[t][d], v[t][d + 1u], v[t][d + 2u], v[t][d + 3u]);
                }
                float s = (scores.x + scores.y) + (scores.z + scores.w);
                float dp = (grads.x + grads.y) + (grads.z + grads.w);
                float p = blockStart + i >= rowQueryStart[t] ? exp(s - queryLse) : 0.0;
                float ds = p * (dp - queryDelta);
                HEAD_DIM_UNROLL for (uint d = 0; d < HEAD_DIM; d++) {
                    vGrad[t][d] += p * outGrad[d];
                    kGrad[t][d] += ds * query[d];
                }
            }
        }
    }

    [[unroll]] for (uint t = 0; t < ROWS; t++) {
        uint key = owned_row(firstKey, t);
        if (key < T) {
            uint kGradAt = qkv_index(b, key, 1u, h) - pc.qkvBase + pc.dQkvBase, vGradAt = kGradAt + pc.H * HEAD_DIM;
            HEAD_DIM_UNROLL for (uint d = 0; d < HEAD_DIM; d++) {
                dQkv[kGradAt + d] = kGrad[t][d] * SCALE;
                dQkv[vGradAt + d] = vGrad[t][d];
            }
        }
    }
}
