#version 450
// attention_bwd_dq_coopmat: the dQ half of the fused attention backward (attention_bwd_dq: same result, layouts,
// bindings and push constants) with every product on cooperative matrices (fp16 tiles, fp32 accumulators).
// With S = Q K^T / sqrt(d) recomputed, P = exp(S - LSE) and delta_i = rowsum(dO_i * O_i) (attention_bwd_delta):
//   S = Q K^T,  dP = dO V^T,  dS = P (dP - delta),  dQ += dS K / sqrt(d)
// Each subgroup owns CM_M query rows: their Q and dO rows (staged once as fp16), LSE and delta, and the dQ
// accumulators (HEAD_DIM / CM_N tiles in registers). Per step the workgroup stages BLOCK keys and values as
// fp16; each subgroup computes S and dP into fp32 shared memory, its lanes turn them element by element into
// dS (fp32 arithmetic, stored as fp16), and the subgroup accumulates dS K. Parallel over query blocks, so every
// dQ row is written by one subgroup (deterministic, no atomics). Causal: key blocks past the workgroup's last
// query are never loaded; keys after a query get probability 0.
// Tiles, work split and staging: attention_coopmat.glsl. Bindings: attention_bwd_bindings.glsl (writes the Q part
// of dQkv). Spec: 0 = workgroup size. Grid: x = blocks of ROWS_PER_GROUP queries, y = local batch * H + head.
//! variant attention_bwd_dq_coopmat_d16_16x16x16 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=16 -DCM_N=16 -DCM_K=16
//! variant attention_bwd_dq_coopmat_d16_16x8x16 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=16 -DCM_N=8 -DCM_K=16
//! variant attention_bwd_dq_coopmat_d16_8x16x16 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=8 -DCM_N=16 -DCM_K=16
//! variant attention_bwd_dq_coopmat_d16_8x8x8 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=8 -DCM_N=8 -DCM_K=8
//! variant attention_bwd_dq_coopmat_d32_16x16x16 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=16 -DCM_N=16 -DCM_K=16
//! variant attention_bwd_dq_coopmat_d32_16x8x16 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=16 -DCM_N=8 -DCM_K=16
//! variant attention_bwd_dq_coopmat_d32_8x16x16 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=8 -DCM_N=16 -DCM_K=16
//! variant attention_bwd_dq_coopmat_d32_8x8x8 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=8 -DCM_N=8 -DCM_K=8
//! variant attention_bwd_dq_coopmat_d64_16x16x16 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=16 -DCM_N=16 -DCM_K=16
//! variant attention_bwd_dq_coopmat_d64_16x8x16 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=16 -DCM_N=8 -DCM_K=16
//! variant attention_bwd_dq_coopmat_d64_8x16x16 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=8 -DCM_N=16 -DCM_K=16
//! variant attention_bwd_dq_coopmat_d64_8x8x8 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=8 -DCM_N=8 -DCM_K=8
//! variant attention_bwd_dq_coopmat_d128_16x16x16 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=16 -DCM_N=16 -DCM_K=16
//! variant attention_bwd_dq_coopmat_d128_16x8x16 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=16 -DCM_N=8 -DCM_K=16
//! variant attention_bwd_dq_coopmat_d128_8x16x16 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=8 -DCM_N=16 -DCM_K=16
//! variant attention_bwd_dq_coopmat_d128_8x8x8 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=8 -DCM_N=8 -DCM_K=8
//! variant attention_bwd_dq_coopmat_d16_16x16x16_f16 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=16 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_dq_coopmat_d16_16x8x16_f16 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=16 -DCM_N=8 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_dq_coopmat_d16_8x16x16_f16 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=8 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_dq_coopmat_d16_8x8x8_f16 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=8 -DCM_N=8 -DCM_K=8 -DACT_F16=1
//! variant attention_bwd_dq_coopmat_d32_16x16x16_f16 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=16 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_dq_coopmat_d32_16x8x16_f16 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=16 -DCM_N=8 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_dq_coopmat_d32_8x16x16_f16 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=8 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_dq_coopmat_d32_8x8x8_f16 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=8 -DCM_N=8 -DCM_K=8 -DACT_F16=1
//! variant attention_bwd_dq_coopmat_d64_16x16x16_f16 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=16 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_dq_coopmat_d64_16x8x16_f16 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=16 -DCM_N=8 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_dq_coopmat_d64_8x16x16_f16 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=8 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_dq_coopmat_d64_8x8x8_f16 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=8 -DCM_N=8 -DCM_K=8 -DACT_F16=1
//! variant attention_bwd_dq_coopmat_d128_16x16x16_f16 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=16 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_dq_coopmat_d128_16x8x16_f16 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=16 -DCM_N=8 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_dq_coopmat_d128_8x16x16_f16 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=8 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_bwd_dq_coopmat_d128_8x8x8_f16 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=8 -DCM_N=8 -DCM_K=8 -DACT_F16=1
#include "attention_coopmat.glsl"
#include "attention_bwd_bindings.glsl"

shared float16_t queries[ROWS_PER_GROUP * HEAD_STRIDE];
shared float16_t outGrads[ROWS_PER_GROUP * HEAD_STRIDE];
shared float rowLse[ROWS_PER_GROUP], rowDelta[ROWS_PER_GROUP];
shared float16_t keys[BLOCK * HEAD_STRIDE];
shared float16_t values[BLOCK * HEAD_STRIDE];
shared float scores[ROWS_PER_GROUP * SCORE_STRIDE];      // S, then the scratch of the final write
shared float scoreGrads[ROWS_PER_GROUP * SCORE_STRIDE];  // dP
shared float16_t probabilityGrads[ROWS_PER_GROUP * BLOCK_STRIDE];  // dS

void main() {
    uint T = pc.T;
    uint b = gl_WorkGroupID.y / pc.H, h = gl_WorkGroupID.y % pc.H;
    uint firstQuery = gl_WorkGroupID.x * ROWS_PER_GROUP;
    uint keyEnd = pc.causal != 0u ? min(T, firstQuery + ROWS_PER_GROUP) : T;
    uint firstRow = gl_SubgroupID * CM_M;

    STAGE_ROWS(queries, ROWS_PER_GROUP, firstQuery, T, QKV_STAGED(0u), QKV_ZERO)
    STAGE_ROWS(outGrads, ROWS_PER_GROUP, firstQuery, T, out_grad_at(row_index(pc.outBase, b, token, h) + d), 0.0)
    for (uint r = gl_LocalInvocationIndex; r < ROWS_PER_GROUP; r += ROW_BLOCK) {
        bool present = firstQuery + r < T;
        rowLse[r] = present ? lse[lse_index(pc.lseBase, b, h, firstQuery + r)] : 0.0;
        rowDelta[r] = present ? delta[lse_index(pc.deltaBase, b, h, firstQuery + r)] : 0.0;
    }
    CM_C queryGrad[HEAD_DIM / CM_N];
    [[unroll]] for (uint n = 0u; n < HEAD_DIM / CM_N; n++) queryGrad[n] = CM_C(0.0);

    for (uint keyStart = 0u; keyStart < keyEnd; keyStart += BLOCK) {
        barrier();  // every subgroup is done with the previous block (and the query rows are staged)
        STAGE_ROWS(keys, BLOCK, keyStart, keyEnd, QKV_STAGED(1u), QKV_ZERO)
        STAGE_ROWS(values, BLOCK, keyStart, keyEnd, QKV_STAGED(2u), QKV_ZERO)
        barrier();

        for (uint n = 0u; n < BLOCK / CM_N; n++) {
            CM_C s = CM_C(0.0), dp = CM_C(0.0);
            ROWS_TIMES_ROWS(s, queries, firstRow, keys, n * CM_N)
            ROWS_TIMES_ROWS(dp, outGrads, firstRow, values, n * CM_N)
            coopMatStore(s, scores, firstRow * SCORE_STRIDE + n * CM_N, SCORE_STRIDE, ROW_MAJOR);
            coopMatStore(dp, scoreGrads, firstRow * SCORE_STRIDE + n * CM_N, SCORE_STRIDE, ROW_MAJOR);
        }
        subgroup_sync();

        for (uint e = gl_SubgroupInvocationID; e < CM_M * BLOCK; e += gl_SubgroupSize) {
            uint row = firstRow + e / BLOCK, j = e % BLOCK;
            uint query = firstQuery + row, key = keyStart + j;
            bool seen = query < T && key < keyEnd && (pc.causal == 0u || key <= query);
            float p = seen ? exp(scores[row * SCORE_STRIDE + j] * SCALE - rowLse[row]) : 0.0;
            probabilityGrads[row * BLOCK_STRIDE + j] = float16_t(p * (scoreGrads[row * SCORE_STRIDE + j] - rowDelta[row]));
        }
        subgroup_sync();

        WEIGHTS_TIMES_ROWS(queryGrad, probabilityGrads, firstRow, keys)
    }

    WRITE_ROWS(queryGrad, scores, firstRow, firstQuery + firstRow + r < T, SCALE,
        dQkv, qkv_index(b, firstQuery + firstRow + r, 0u, h) - pc.qkvBase + pc.dQkvBase)
}
