#version 450
// attention_bwd_dq: fused attention backward, the dQ half (FlashAttention-2 style), parallel over
// query blocks so every dQ row is written by exactly one invocation (deterministic, no atomics).
// With S = Q K^T / sqrt(d) recomputed per key and P = exp(S - LSE) from the forward's log-sum-exp:
//   dP_ij = dO_i . V_j,   dS_ij = P_ij (dP_ij - delta_i),   dQ_i = sum_j dS_ij K_j / sqrt(d)
// where delta_i = rowsum(dO_i * O_i) comes from attention_bwd_delta. Each invocation owns ROWS query rows
// (their q, dO and dQ accumulators; each loaded key and value element feeds all ROWS rows); the workgroup walks STAGE_BLOCK keys and values at a time
// (staged in shared memory on GPUs). Causal: key blocks past the workgroup's last query are skipped
// entirely. Layouts, grid and push constants: attention_common.glsl. Writes only the Q part of dQkv.
// Bindings: attention_bwd_bindings.glsl (writes the Q part of dQkv).
// Spec: 0 = ROW_BLOCK (invocations per workgroup), 1 = STAGE_BLOCK (keys per step), 2 = STAGE_IN_SHARED,
// 3 = TEXEL_MODE (see attention_fwd). The _f16 / _bf16 variants read 16-bit qkv (see attention_fwd). Shared memory: 2 * STAGE_BLOCK * HEAD_DIM floats.
//! variant attention_bwd_dq_d16 -DHEAD_DIM=16 -DROWS=1
//! variant attention_bwd_dq_d32 -DHEAD_DIM=32 -DROWS=1
//! variant attention_bwd_dq_d64 -DHEAD_DIM=64 -DROWS=1
//! variant attention_bwd_dq_d128 -DHEAD_DIM=128 -DROWS=1
//! variant attention_bwd_dq_d128_rolled -DHEAD_DIM=128 -DROWS=1 -DROLLED_HEAD_DIM=1
//! variant attention_bwd_dq_rows8_d16 -DHEAD_DIM=16 -DROWS=8
//! variant attention_bwd_dq_rows8_d32 -DHEAD_DIM=32 -DROWS=8
//! variant attention_bwd_dq_rows8_d64 -DHEAD_DIM=64 -DROWS=8
//! variant attention_bwd_dq_rows4_d128 -DHEAD_DIM=128 -DROWS=4
//! variant attention_bwd_dq_d16_f16 -DHEAD_DIM=16 -DROWS=1 -DACT_F16=1
//! variant attention_bwd_dq_d32_f16 -DHEAD_DIM=32 -DROWS=1 -DACT_F16=1
//! variant attention_bwd_dq_d64_f16 -DHEAD_DIM=64 -DROWS=1 -DACT_F16=1
//! variant attention_bwd_dq_d128_f16 -DHEAD_DIM=128 -DROWS=1 -DACT_F16=1
//! variant attention_bwd_dq_d128_rolled_f16 -DHEAD_DIM=128 -DROWS=1 -DACT_F16=1 -DROLLED_HEAD_DIM=1
//! variant attention_bwd_dq_rows8_d16_f16 -DHEAD_DIM=16 -DROWS=8 -DACT_F16=1
//! variant attention_bwd_dq_rows8_d32_f16 -DHEAD_DIM=32 -DROWS=8 -DACT_F16=1
//! variant attention_bwd_dq_rows8_d64_f16 -DHEAD_DIM=64 -DROWS=8 -DACT_F16=1
//! variant attention_bwd_dq_rows4_d128_f16 -DHEAD_DIM=128 -DROWS=4 -DACT_F16=1
//! variant attention_bwd_dq_d16_bf16 -DHEAD_DIM=16 -DROWS=1 -DACT_BF16=1
//! variant attention_bwd_dq_d32_bf16 -DHEAD_DIM=32 -DROWS=1 -DACT_BF16=1
//! variant attention_bwd_dq_d64_bf16 -DHEAD_DIM=64 -DROWS=1 -DACT_BF16=1
//! variant attention_bwd_dq_d128_bf16 -DHEAD_DIM=128 -DROWS=1 -DACT_BF16=1
//! variant attention_bwd_dq_d128_rolled_bf16 -DHEAD_DIM=128 -DROWS=1 -DACT_BF16=1 -DROLLED_HEAD_DIM=1
//! variant attention_bwd_dq_rows8_d16_bf16 -DHEAD_DIM=16 -DROWS=8 -DACT_BF16=1
//! variant attention_bwd_dq_rows8_d32_bf16 -DHEAD_DIM=32 -DROWS=8 -DACT_BF16=1
//! variant attention_bwd_dq_rows8_d64_bf16 -DHEAD_DIM=64 -DROWS=8 -DACT_BF16=1
//! variant attention_bwd_dq_rows4_d128_bf16 -DHEAD_DIM=128 -DROWS=4 -DACT_BF16=1
#include "attention_common.glsl"
// Element d of key / value j of the current block (staged, or read in place: STAGE_IN_SHARED).
#define KEY(j, d) (STAGE_IN_SHARED ? keys[(j) * HEAD_DIM + (d)] : qkv_at(keyAt + (j) * stride + (d)))
#define VALUE(j, d) (STAGE_IN_SHARED ? values[(j) * HEAD_DIM + (d)] : qkv_at(valueAt + (j) * stride + (d)))
// Elements d..d+3 of key / value j (d a multiple of 4).
#define KEY4(j, d) (STAGE_IN_SHARED ? vec4(KEY(j, d), KEY(j, d + 1u), KEY(j, d + 2u), KEY(j, d + 3u)) : qkv4_at(keyAt + (j) * stride + (d)))
#define VALUE4(j, d) (STAGE_IN_SHARED ? vec4(VALUE(j, d), VALUE(j, d + 1u), VALUE(j, d + 2u), VALUE(j, d + 3u)) : qkv4_at(valueAt + (j) * stride + (d)))

#include "attention_bwd_bindings.glsl"

shared float keys[STAGE_BLOCK * HEAD_DIM];
shared float values[STAGE_BLOCK * HEAD_DIM];

void main() {
    uint T = pc.T;
    uint b = gl_WorkGroupID.y / pc.H, h = gl_WorkGroupID.y % pc.H;
    uint firstQuery = gl_WorkGroupID.x * ROW_BLOCK * ROWS;
    uint lastQuery = min(T, firstQuery + ROW_BLOCK * ROWS) - 1u;
    uint keyEnd = pc.causal != 0u ? lastQuery + 1u : T;

    float q[ROWS][HEAD_DIM];
    float outGrad[ROWS][HEAD_DIM];
    float qGrad[ROWS][HEAD_DIM];
    float rowLse[ROWS], rowDelta[ROWS];
    uint rowKeyEnd[ROWS];
    [[unroll]] for (uint t = 0; t < ROWS; t++) {
        uint query = owned_row(firstQuery, t);
        rowKeyEnd[t] = query >= T ? 0u : (pc.causal != 0u ? query + 1u : T);
        uint row = min(query, T - 1u);
        uint qAt = qkv_index(b, row, 0u, h), outGradAt = row_index(pc.outBase, b, row, h);
        HEAD_DIM_UNROLL for (uint d = 0; d < HEAD_DIM; d++) {
            q[t][d] = qkv_at(qAt + d) * SCALE;
            outGrad[t][d] = out_grad_at(outGradAt + d);
            qGrad[t][d] = 0.0;
        }
        rowLse[t] = lse[lse_index(pc.lseBase, b, h, row)];
        rowDelta[t] = delta[lse_index(pc.deltaBase, b, h, row)];
    }

    for (uint keyStart = 0; keyStart < keyEnd; keyStart += STAGE_BLOCK) {
        if (STAGE_IN_SHARED) {
            barrier();
            for (uint e = gl_LocalInvocationID.x; e < STAGE_BLOCK * HEAD_DIM; e += ROW_BLOCK) {
                uint key = keyStart + e / HEAD_DIM, d = e % HEAD_DIM;
                bool present = key < keyEnd;
                keys[e] = present ? qkv_at(qkv_index(b, key, 1u, h) + d) : 0.0;
                values[e] = present ? qkv_at(qkv_index(b, key, 2u, h) + d) : 0.0;
            }
            barrier();
        }
        uint keyAt = qkv_index(b, keyStart, 1u, h), valueAt = keyAt + pc.H * HEAD_DIM, stride = qkv_token_stride();
        // Uniform loop, arithmetic masking (see attention_fwd).
        uint blockKeys = min(STAGE_BLOCK, keyEnd - keyStart);
        for (uint j = 0; j < blockKeys; j++) {
            float k[HEAD_DIM], v[HEAD_DIM];
            HEAD_DIM_UNROLL for (uint d = 0; d < HEAD_DIM; d += 4u) {
                vec4 k4 = KEY4(j, d), v4 = VALUE4(j, d);
                k[d] = k4.x; k[d + 1u] = k4.y; k[d + 2u] = k4.z; k[d + 3u] = k4.w;
                v[d] = v4.x; v[d + 1u] = v4.y; v[d + 2u] = v4.z; v[d + 3u] = v4.w;
            }
            [[unroll]] for (uint t = 0; t < ROWS; t++) {
                // Four partial sums per dot product: independent chains, not one latency-bound chain.
                vec4 scores = vec4(0.0), grads = vec4(0.0);
                HEAD_DIM_UNROLL for (uint d = 0; d < HEAD_DIM; d += 4u) {
                    scores += vec4(q[t][d], q[t][d + 1u], q[t][d + 2u], q[t][d + 3u]) * vec4(k[d], k[d + 1u], k[d + 2u], k[d + 3u]);
                    grads += vec4(outGrad[t][d], outGrad[t][d + 1u], outGrad[t][d + 2u], outGrad[t][d + 3u])
                           * vec4(v[d], v[d + 1u], v[d + 2u], v[d + 3u]);
                }
                float s = (scores.x + scores.y) + (scores.z + scores.w);
                float dp = (grads.x + grads.y) + (grads.z + grads.w);
                float ds = keyStart + j < rowKeyEnd[t] ? exp(s - rowLse[t]) * (dp - rowDelta[t]) : 0.0;
                HEAD_DIM_UNROLL for (uint d = 0; d < HEAD_DIM; d++) qGrad[t][d] += ds * k[d];
            }
        }
    }

    [[unroll]] for (uint t = 0; t < ROWS; t++) {
        uint query = owned_row(firstQuery, t);
        if (query < T) {
            uint at = qkv_index(b, query, 0u, h) - pc.qkvBase + pc.dQkvBase;
            HEAD_DIM_UNROLL for (uint d = 0; d < HEAD_DIM; d++) dQkv[at + d] = qGrad[t][d] * SCALE;
        }
    }
}
