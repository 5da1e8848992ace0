#version 450
// attention_bwd_split: the dK/dV half of the fused attention backward, as attention_bwd (same result, layouts, bindings,
// push constants and grid), with each key row's head dim split across a cluster of LANES invocations
// (attention_split.glsl): a GPU lane holds HEAD_DIM / LANES elements of k, v, dK and dV instead of whole rows.
// With S = Q K^T / sqrt(d) recomputed per query and P = exp(S - LSE) from the forward's log-sum-exp:
//   dV_j = sum_i P_ij dO_i,   dP_ij = dO_i . V_j,   dS_ij = P_ij (dP_ij - delta_i),
//   dK_j = sum_i dS_ij Q_i / sqrt(d)
// Per query row: each lane's partial q.k and dO.v over its chunks, both summed over the cluster in one butterfly, then
// each lane accumulates its chunks of dV and dK. The workgroup stages STAGE_BLOCK query rows (Q, dO, LSE, delta) in
// shared memory per step. Causal: query blocks before the workgroup's first key are skipped entirely; queries before a
// key get probability exactly 0. Writes the K and V parts of dQkv. The _f16 / _bf16 variants read 16-bit qkv.
// Bindings: attention_bwd_bindings.glsl. Spec: 0 = ROW_BLOCK (invocations per workgroup: ROW_BLOCK / LANES key rows),
// 1 = STAGE_BLOCK (query rows per step), 2 = unused (always staged), 3 = TEXEL_MODE.
// Shared memory: (2 * HEAD_DIM + 2) * STAGE_BLOCK floats.
//! variant attention_bwd_d64_split -DHEAD_DIM=64 -DLANES=4
//! variant attention_bwd_d128_split -DHEAD_DIM=128 -DLANES=8
//! variant attention_bwd_d64_split_f16 -DHEAD_DIM=64 -DLANES=4 -DACT_F16=1
//! variant attention_bwd_d128_split_f16 -DHEAD_DIM=128 -DLANES=8 -DACT_F16=1
//! variant attention_bwd_d64_split_bf16 -DHEAD_DIM=64 -DLANES=4 -DACT_BF16=1
//! variant attention_bwd_d128_split_bf16 -DHEAD_DIM=128 -DLANES=8 -DACT_BF16=1
#include "attention_split.glsl"
#include "attention_bwd_bindings.glsl"

shared vec4 queries[STAGE_BLOCK * ROW_VEC4S];
shared vec4 outGrads[STAGE_BLOCK * ROW_VEC4S];
shared float rowLses[STAGE_BLOCK];
shared float rowDeltas[STAGE_BLOCK];

void main() {
    uint T = pc.T;
    uint b = gl_WorkGroupID.y / pc.H, h = gl_WorkGroupID.y % pc.H;
    uint firstKey = gl_WorkGroupID.x * split_rows_per_group();
    // Causal: only queries at or after the group's first key see any of its keys.
    uint queryStart = pc.causal != 0u ? firstKey : 0u;
    uint key = firstKey + split_row(), lane = split_lane();
    uint rowQueryStart = key >= T ? T : (pc.causal != 0u ? key : 0u);  // the first query that sees this key; none past T

    vec4 k[CHUNKS], v[CHUNKS], kGrad[CHUNKS], vGrad[CHUNKS];
    uint kAt = qkv_index(b, min(key, T - 1u), 1u, h), vAt = kAt + pc.H * HEAD_DIM;
    [[unroll]] for (uint c = 0; c < CHUNKS; c++) {
        k[c] = qkv4_at(kAt + chunk_offset(c)) * SCALE;
        v[c] = qkv4_at(vAt + chunk_offset(c));
        kGrad[c] = vec4(0.0);
        vGrad[c] = vec4(0.0);
    }

#define QUERY_ROW(query) qkv_index(b, query, 0u, h)
#define OUT_GRAD_ROW(query) row_index(pc.outBase, b, query, h)
    for (uint blockStart = queryStart; blockStart < T; blockStart += STAGE_BLOCK) {
        barrier();
        STAGE_ROWS(queries, blockStart, T, QUERY_ROW, qkv4_at)
        STAGE_ROWS(outGrads, blockStart, T, OUT_GRAD_ROW, out_grad4_at)
        for (uint i = gl_LocalInvocationID.x; i < STAGE_BLOCK; i += ROW_BLOCK) {
            uint query = blockStart + i;
            bool present = query < T;
            rowLses[i] = present ? lse[lse_index(pc.lseBase, b, h, query)] : 0.0;
            rowDeltas[i] = present ? delta[lse_index(pc.deltaBase, b, h, query)] : 0.0;
        }
        barrier();
        // Uniform loop (the shuffles need the whole cluster), arithmetic masking.
        uint end = min(STAGE_BLOCK, T - blockStart);
        for (uint i = 0; i < end; i++) {
            vec4 query[CHUNKS], outGrad[CHUNKS];
            vec4 scores = vec4(0.0), grads = vec4(0.0);
            [[unroll]] for (uint c = 0; c < CHUNKS; c++) {
                query[c] = queries[i * ROW_VEC4S + c * LANES + lane];
                outGrad[c] = outGrads[i * ROW_VEC4S + c * LANES + lane];
                scores += query[c] * k[c];
                grads += outGrad[c] * v[c];
            }
            vec2 sums = cluster_sum(vec2(horizontal_sum(scores), horizontal_sum(grads)));  // s, dp
            float p = blockStart + i >= rowQueryStart ? exp(sums.x - rowLses[i]) : 0.0;
            float ds = p * (sums.y - rowDeltas[i]);
            [[unroll]] for (uint c = 0; c < CHUNKS; c++) {
                vGrad[c] += p * outGrad[c];
                kGrad[c] += ds * query[c];
            }
        }
    }

    if (key < T) {
        uint kGradAt = qkv_index(b, key, 1u, h) - pc.qkvBase + pc.dQkvBase, vGradAt = kGradAt + pc.H * HEAD_DIM;
        [[unroll]] for (uint c = 0; c < CHUNKS; c++) {
            vec4 dk = kGrad[c] * SCALE, dv = vGrad[c];
            uint at = chunk_offset(c);
            dQkv[kGradAt + at] = dk.x; dQkv[kGradAt + at + 1u] = dk.y; dQkv[kGradAt + at + 2u] = dk.z; dQkv[kGradAt + at + 3u] = dk.w;
            dQkv[vGradAt + at] = dv.x; dQkv[vGradAt + at + 1u] = dv.y; dQkv[vGradAt + at + 2u] = dv.z; dQkv[vGradAt + at + 3u] = dv.w;
        }
    }
}
