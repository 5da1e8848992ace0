#version 450
// attention_bwd_coopmat: the dK/dV half of the fused attention backward (attention_bwd: same result, layouts,
// bindings and push constants) with every product on cooperative matrices (fp16 tiles, fp32 accumulators).
// With S = Q K^T / sqrt(d) recomputed, P = exp(S - LSE) from the forward's log-sum-exp and delta_i =
// rowsum(dO_i * O_i) from attention_bwd_delta:
//   S^T = K Q^T,  dP^T = V dO^T,  dS^T = P^T (dP^T - delta),  dV += P^T dO,  dK += dS^T Q / sqrt(d)
// Each subgroup owns CM_M key rows: their K and V rows (staged once as fp16) and the dK and dV accumulators
// (HEAD_DIM / CM_N tiles each, in registers). Per step the workgroup stages BLOCK query rows (Q, dO as fp16;
// LSE, delta as fp32); each subgroup computes S^T and dP^T into fp32 shared memory, its lanes turn them element
// by element into P^T and dS^T (fp32 arithmetic, stored as fp16), and the subgroup accumulates dV and dK.
// Parallel over key blocks, so every dK and dV row is written by one subgroup (deterministic, no atomics).
// Causal: query blocks before the workgroup's first key are skipped; queries before a key get probability 0.
// Tiles, work split and staging: attention_coopmat.glsl. Bindings: attention_bwd_bindings.glsl (writes the K and
// V parts of dQkv). Spec: 0 = workgroup size. Grid: x = blocks of ROWS_PER_GROUP keys, y = local batch * H + head.
//! variant attention_bwd_coopmat_d16_16x16x16 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=16 -DCM_N=16 -DCM_K=16
//! variant attention_bwd_coopmat_d16_16x8x16 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=16 -DCM_N=8 -DCM_K=16
//! variant attention_bwd_coopmat_d16_8x16x16 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=8 -DCM_N=16 -DCM_K=16
//! variant attention_bwd_coopmat_d16_8x8x8 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=8 -DCM_N=8 -DCM_K=8
//! variant attention_bwd_coopmat_d32_16x16x16 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=16 -DCM_N=16 -DCM_K=16
//! variant attention_bwd_coopmat_d32_16x8x16 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=16 -DCM_N=8 -DCM_K=16
//! variant attention_bwd_coopmat_d32_8x16x16 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=8 -DCM_N=16 -DCM_K=16
//! variant attention_bwd_coopmat_d32_8x8x8 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=8 -DCM_N=8 -DCM_K=8
//! variant attention_bwd_coopmat_d64_16x16x16 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=16 -DCM_N=16 -DCM_K=16
//! variant attention_bwd_coopmat_d64_16x8x16 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=16 -DCM_N=8 -DCM_K=16
//! variant attention_bwd_coopmat_d64_8x16x16 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=8 -DCM_N=16 -DCM_K=16
//! variant attention_bwd_coopmat_d64_8x8x8 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=8 -DCM_N=8 -DCM_K=8
//! variant attention_bwd_coopmat_d128_16x16x16 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=16 -DCM_N=16 -DCM_K=16
//! variant attention_bwd_coopmat_d128_16x8x16 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=16 -DCM_N=8 -DCM_K=16
//! variant attention_bwd_coopmat_d128_8x16x16 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=8 -DCM_N=16 -DCM_K=16
//! variant attention_bwd_coopmat_d128_8x8x8 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=8 -DCM_N=8 -DCM_K=8
//! variant attention_bwd_coopmat_d16_16x16x16_f16 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=16 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_coopmat_d16_16x8x16_f16 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=16 -DCM_N=8 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_coopmat_d16_8x16x16_f16 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=8 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_coopmat_d16_8x8x8_f16 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=8 -DCM_N=8 -DCM_K=8 -DACT_F16=1
//! variant attention_bwd_coopmat_d32_16x16x16_f16 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=16 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_coopmat_d32_16x8x16_f16 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=16 -DCM_N=8 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_coopmat_d32_8x16x16_f16 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=8 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_coopmat_d32_8x8x8_f16 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=8 -DCM_N=8 -DCM_K=8 -DACT_F16=1
//! variant attention_bwd_coopmat_d64_16x16x16_f16 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=16 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_coopmat_d64_16x8x16_f16 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=16 -DCM_N=8 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_coopmat_d64_8x16x16_f16 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=8 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_coopmat_d64_8x8x8_f16 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=8 -DCM_N=8 -DCM_K=8 -DACT_F16=1
//! variant attention_bwd_coopmat_d128_16x16x16_f16 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=16 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_coopmat_d128_16x8x16_f16 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=16 -DCM_N=8 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_coopmat_d128_8x16x16_f16 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=8 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_coopmat_d128_8x8x8_f16 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=8 -DCM_N=8 -DCM_K=8 -DACT_F16=1
#include "attention_coopmat.glsl"
#include "attention_bwd_bindings.glsl"

shared float16_t keys[ROWS_PER_GROUP * HEAD_STRIDE];
shared float16_t values[ROWS_PER_GROUP * HEAD_STRIDE];
shared float16_t queries[BLOCK * HEAD_STRIDE];
shared float16_t outGrads[BLOCK * HEAD_STRIDE];
shared float blockLse[BLOCK], blockDelta[BLOCK];
shared float scores[ROWS_PER_GROUP * SCORE_STRIDE];      // S^T, then the scratch of the final writes
shared float scoreGrads[ROWS_PER_GROUP * SCORE_STRIDE];  // dP^T
shared float16_t probabilities[ROWS_PER_GROUP * BLOCK_STRIDE];        // P^T
shared float16_t probabilityGrads[ROWS_PER_GROUP * BLOCK_STRIDE];     // dS^T

void main() {
    uint T = pc.T;
    uint b = gl_WorkGroupID.y / pc.H, h = gl_WorkGroupID.y % pc.H;
    uint firstKey = gl_WorkGroupID.x * ROWS_PER_GROUP;
    uint firstRow = gl_SubgroupID * CM_M;

    STAGE_ROWS(keys, ROWS_PER_GROUP, firstKey, T, QKV_STAGED(1u), QKV_ZERO)
    STAGE_ROWS(values, ROWS_PER_GROUP, firstKey, T, QKV_STAGED(2u), QKV_ZERO)
    CM_C keyGrad[HEAD_DIM / CM_N], valueGrad[HEAD_DIM / CM_N];
    [[unroll]] for (uint n = 0u; n < HEAD_DIM / CM_N; n++) {
        keyGrad[n] = CM_C(0.0);
        valueGrad[n] = CM_C(0.0);
    }

    // Causal: only queries at or after the group's first key see any of its keys.
    for (uint queryStart = pc.causal != 0u ? firstKey : 0u; queryStart < T; queryStart += BLOCK) {
        barrier();  // every subgroup is done with the previous block (and the keys and values are staged)
        STAGE_ROWS(queries, BLOCK, queryStart, T, QKV_STAGED(0u), QKV_ZERO)
        STAGE_ROWS(outGrads, BLOCK, queryStart, T, out_grad_at(row_index(pc.outBase, b, token, h) + d), 0.0)
        for (uint i = gl_LocalInvocationIndex; i < BLOCK; i += ROW_BLOCK) {
            bool present = queryStart + i < T;
            blockLse[i] = present ? lse[lse_index(pc.lseBase, b, h, queryStart + i)] : 0.0;
            blockDelta[i] = present ? delta[lse_index(pc.deltaBase, b, h, queryStart + i)] : 0.0;
        }
        barrier();

        for (uint n = 0u; n < BLOCK / CM_N; n++) {
            CM_C s = CM_C(0.0), dp = CM_C(0.0);
            ROWS_TIMES_ROWS(s, keys, firstRow, queries, n * CM_N)
            ROWS_TIMES_ROWS(dp, values, firstRow, outGrads, n * CM_N)
            coopMatStore(s, scores, firstRow * SCORE_STRIDE + n * CM_N, SCORE_STRIDE, ROW_MAJOR);
            coopMatStore(dp, scoreGrads, firstRow * SCORE_STRIDE + n * CM_N, SCORE_STRIDE, ROW_MAJOR);
        }
        subgroup_sync();

        for (uint e = gl_SubgroupInvocationID; e < CM_M * BLOCK; e += gl_SubgroupSize) {
            uint row = firstRow + e / BLOCK, i = e % BLOCK;
            uint key = firstKey + row, query = queryStart + i;
            bool seen = key < T && query < T && (pc.causal == 0u || query >= key);
            float p = seen ? exp(scores[row * SCORE_STRIDE + i] * SCALE - blockLse[i]) : 0.0;
            probabilities[row * BLOCK_STRIDE + i] = float16_t(p);
            probabilityGrads[row * BLOCK_STRIDE + i] = float16_t(p * (scoreGrads[row * SCORE_STRIDE + i] - blockDelta[i]));
        }
        subgroup_sync();

        WEIGHTS_TIMES_ROWS(valueGrad, probabilities, firstRow, outGrads)
        WEIGHTS_TIMES_ROWS(keyGrad, probabilityGrads, firstRow, queries)
    }

    // dQkv's K row of key t starts at qkv_index(b, t, 1, h) moved from qkv's base to dQkv's; its V row H * HEAD_DIM later.
    WRITE_ROWS(keyGrad, scores, firstRow, firstKey + firstRow + r < T, SCALE,
        dQkv, qkv_index(b, firstKey + firstRow + r, 1u, h) - pc.qkvBase + pc.dQkvBase)
    WRITE_ROWS(valueGrad, scores, firstRow, firstKey + firstRow + r < T, 1.0,
        dQkv, qkv_index(b, firstKey + firstRow + r, 2u, h) - pc.qkvBase + pc.dQkvBase)
}
