#version 450
// attention_bwd_dq_split: the dQ half of the fused attention backward, as attention_bwd_dq (same result, layouts,
// bindings, push constants and grid), with each query row's head dim split across a cluster of LANES invocations
// (attention_split.glsl): a GPU lane holds HEAD_DIM / LANES elements of q, dO and dQ instead of whole rows.
// With S = Q K^T / sqrt(d) recomputed per key and P = exp(S - LSE) from the forward's log-sum-exp:
//   dP_ij = dO_i . V_j,   dS_ij = P_ij (dP_ij - delta_i),   dQ_i = sum_j dS_ij K_j / sqrt(d)
// Per key: each lane's partial q.k and dO.v over its chunks, both summed over the cluster in one butterfly, then each
// lane accumulates its chunks of dQ. The workgroup stages STAGE_BLOCK keys and values in shared memory per step.
// Causal: key blocks past the workgroup's last query are skipped entirely. Writes only the Q part of dQkv. The
// _f16 / _bf16 variants read 16-bit qkv.
// Bindings: attention_bwd_bindings.glsl. Spec: 0 = ROW_BLOCK (invocations per workgroup: ROW_BLOCK / LANES query rows),
// 1 = STAGE_BLOCK (keys per step), 2 = unused (always staged), 3 = TEXEL_MODE. Shared memory: 2 * STAGE_BLOCK * HEAD_DIM floats.
//! variant attention_bwd_dq_d64_split -DHEAD_DIM=64 -DLANES=4
//! variant attention_bwd_dq_d128_split -DHEAD_DIM=128 -DLANES=8
//! variant attention_bwd_dq_d64_split_f16 -DHEAD_DIM=64 -DLANES=4 -DACT_F16=1
//! variant attention_bwd_dq_d128_split_f16 -DHEAD_DIM=128 -DLANES=8 -DACT_F16=1
//! variant attention_bwd_dq_d64_split_bf16 -DHEAD_DIM=64 -DLANES=4 -DACT_BF16=1
//! variant attention_bwd_dq_d128_split_bf16 -DHEAD_DIM=128 -DLANES=8 -DACT_BF16=1
#include "attention_split.glsl"
#include "attention_bwd_bindings.glsl"

shared vec4 keys[STAGE_BLOCK * ROW_VEC4S];
shared vec4 values[STAGE_BLOCK * ROW_VEC4S];

void main() {
    uint T = pc.T;
    uint b = gl_WorkGroupID.y / pc.H, h = gl_WorkGroupID.y % pc.H;
    uint firstQuery = gl_WorkGroupID.x * split_rows_per_group();
    uint lastQuery = min(T, firstQuery + split_rows_per_group()) - 1u;
    uint keyEnd = pc.causal != 0u ? lastQuery + 1u : T;
    uint query = firstQuery + split_row(), lane = split_lane();
    uint rowKeyEnd = query >= T ? 0u : (pc.causal != 0u ? query + 1u : T);

    vec4 q[CHUNKS], outGrad[CHUNKS], qGrad[CHUNKS];
    uint row = min(query, T - 1u);
    uint qAt = qkv_index(b, row, 0u, h), outGradAt = row_index(pc.outBase, b, row, h);
    [[unroll]] for (uint c = 0; c < CHUNKS; c++) {
        q[c] = qkv4_at(qAt + chunk_offset(c)) * SCALE;
        outGrad[c] = out_grad4_at(outGradAt + chunk_offset(c));
        qGrad[c] = vec4(0.0);
    }
    float rowLse = lse[lse_index(pc.lseBase, b, h, row)], rowDelta = delta[lse_index(pc.deltaBase, b, h, row)];

#define KEY_ROW(key) qkv_index(b, key, 1u, h)
#define VALUE_ROW(key) qkv_index(b, key, 2u, h)
    for (uint keyStart = 0; keyStart < keyEnd; keyStart += STAGE_BLOCK) {
        barrier();
        STAGE_ROWS(keys, keyStart, keyEnd, KEY_ROW, qkv4_at)
        STAGE_ROWS(values, keyStart, keyEnd, VALUE_ROW, qkv4_at)
        barrier();
        // Uniform loop (the shuffles need the whole cluster), arithmetic masking.
        uint blockKeys = min(STAGE_BLOCK, keyEnd - keyStart);
        for (uint j = 0; j < blockKeys; j++) {
            vec4 scores = vec4(0.0), grads = vec4(0.0);
            [[unroll]] for (uint c = 0; c < CHUNKS; c++) {
                scores += q[c] * keys[j * ROW_VEC4S + c * LANES + lane];
                grads += outGrad[c] * values[j * ROW_VEC4S + c * LANES + lane];
            }
            vec2 sums = cluster_sum(vec2(horizontal_sum(scores), horizontal_sum(grads)));  // s, dp
            float ds = keyStart + j < rowKeyEnd ? exp(sums.x - rowLse) * (sums.y - rowDelta) : 0.0;
            [[unroll]] for (uint c = 0; c < CHUNKS; c++) qGrad[c] += ds * keys[j * ROW_VEC4S + c * LANES + lane];
        }
    }

    if (query < T) {
        uint at = qkv_index(b, query, 0u, h) - pc.qkvBase + pc.dQkvBase;
        [[unroll]] for (uint c = 0; c < CHUNKS; c++) {
            vec4 dq = qGrad[c] * SCALE;
            uint d = at + chunk_offset(c);
            dQkv[d] = dq.x; dQkv[d + 1u] = dq.y; dQkv[d + 2u] = dq.z; dQkv[d + 3u] = dq.w;
        }
    }
}
