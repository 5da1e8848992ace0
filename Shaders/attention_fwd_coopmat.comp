#version 450
// attention_fwd_coopmat: the fused attention forward of attention_fwd (same result, layouts, bindings and push
// constants) with both products on cooperative matrices: S = Q K^T and O += P V on fp16 tiles with fp32
// accumulators, the online softmax (running max m, running sum l, rescaling O when m grows) in fp32.
//   O[b,i,h,:] = sum_j softmax_j(Q_i . K_j / sqrt(HEAD_DIM)) V_j   (causal: j <= i)
//   LSE[b,h,i] = m_i + log l_i
// Each subgroup owns CM_M query rows: their Q rows (staged once as fp16) and O accumulators (HEAD_DIM / CM_N
// tiles in registers). Per step the workgroup stages BLOCK keys and values as fp16; each subgroup computes its
// CM_M x BLOCK scores into fp32 shared memory, one lane per row updates m and l and writes P = exp(S - m) as
// fp16, the O tiles are rescaled (cooperative matrices cannot scale rows, so each goes through shared memory)
// and accumulate P V. Causal: key blocks past the workgroup's last
// query are never loaded; keys past a row's own position get probability exactly 0.
// Tiles, work split and staging: attention_coopmat.glsl. Bindings: 0 qkv (read), 1 O (written), 2 LSE (written).
// Spec: 0 = workgroup size (SUBGROUPS * subgroup size). Grid: x = blocks of ROWS_PER_GROUP queries,
// y = local batch * H + head.
//! variant attention_fwd_coopmat_d16_16x16x16 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=16 -DCM_N=16 -DCM_K=16
//! variant attention_fwd_coopmat_d16_16x8x16 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=16 -DCM_N=8 -DCM_K=16
//! variant attention_fwd_coopmat_d16_8x16x16 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=8 -DCM_N=16 -DCM_K=16
//! variant attention_fwd_coopmat_d16_8x8x8 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=8 -DCM_N=8 -DCM_K=8
//! variant attention_fwd_coopmat_d32_16x16x16 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=16 -DCM_N=16 -DCM_K=16
//! variant attention_fwd_coopmat_d32_16x8x16 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=16 -DCM_N=8 -DCM_K=16
//! variant attention_fwd_coopmat_d32_8x16x16 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=8 -DCM_N=16 -DCM_K=16
//! variant attention_fwd_coopmat_d32_8x8x8 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=8 -DCM_N=8 -DCM_K=8
//! variant attention_fwd_coopmat_d64_16x16x16 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=16 -DCM_N=16 -DCM_K=16
//! variant attention_fwd_coopmat_d64_16x8x16 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=16 -DCM_N=8 -DCM_K=16
//! variant attention_fwd_coopmat_d64_8x16x16 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=8 -DCM_N=16 -DCM_K=16
//! variant attention_fwd_coopmat_d64_8x8x8 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=8 -DCM_N=8 -DCM_K=8
//! variant attention_fwd_coopmat_d128_16x16x16 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=16 -DCM_N=16 -DCM_K=16
//! variant attention_fwd_coopmat_d128_16x8x16 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=16 -DCM_N=8 -DCM_K=16
//! variant attention_fwd_coopmat_d128_8x16x16 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=8 -DCM_N=16 -DCM_K=16
//! variant attention_fwd_coopmat_d128_8x8x8 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=8 -DCM_N=8 -DCM_K=8
//! variant attention_fwd_coopmat_d16_16x16x16_f16 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=16 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_fwd_coopmat_d16_16x8x16_f16 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=16 -DCM_N=8 -DCM_K=16 -DACT_F16=1
//! variant attention_fwd_coopmat_d16_8x16x16_f16 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=8 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_fwd_coopmat_d16_8x8x8_f16 target=vulkan1.3 -DHEAD_DIM=16 -DCM_M=8 -DCM_N=8 -DCM_K=8 -DACT_F16=1
//! variant attention_fwd_coopmat_d32_16x16x16_f16 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=16 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_fwd_coopmat_d32_16x8x16_f16 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=16 -DCM_N=8 -DCM_K=16 -DACT_F16=1
//! variant attention_fwd_coopmat_d32_8x16x16_f16 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=8 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_fwd_coopmat_d32_8x8x8_f16 target=vulkan1.3 -DHEAD_DIM=32 -DCM_M=8 -DCM_N=8 -DCM_K=8 -DACT_F16=1
//! variant attention_fwd_coopmat_d64_16x16x16_f16 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=16 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_fwd_coopmat_d64_16x8x16_f16 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=16 -DCM_N=8 -DCM_K=16 -DACT_F16=1
//! variant attention_fwd_coopmat_d64_8x16x16_f16 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=8 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_fwd_coopmat_d64_8x8x8_f16 target=vulkan1.3 -DHEAD_DIM=64 -DCM_M=8 -DCM_N=8 -DCM_K=8 -DACT_F16=1
//! variant attention_fwd_coopmat_d128_16x16x16_f16 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=16 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_fwd_coopmat_d128_16x8x16_f16 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=16 -DCM_N=8 -DCM_K=16 -DACT_F16=1
//! variant attention_fwd_coopmat_d128_8x16x16_f16 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=8 -DCM_N=16 -DCM_K=16 -DACT_F16=1
//! variant attention_fwd_coopmat_d128_8x8x8_f16 target=vulkan1.3 -DHEAD_DIM=128 -DCM_M=8 -DCM_N=8 -DCM_K=8 -DACT_F16=1
#include "attention_coopmat.glsl"

layout(std430, set = 0, binding = 1) writeonly buffer Out { float o[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Lse { float lse[]; };

shared float16_t queries[ROWS_PER_GROUP * HEAD_STRIDE];
shared float16_t keys[BLOCK * HEAD_STRIDE];
shared float16_t values[BLOCK * HEAD_STRIDE];
shared float scores[ROWS_PER_GROUP * SCORE_STRIDE];
shared float16_t probabilities[ROWS_PER_GROUP * BLOCK_STRIDE];
shared float rowMax[ROWS_PER_GROUP], rowSum[ROWS_PER_GROUP], rowCorrection[ROWS_PER_GROUP];

void main() {
    uint T = pc.T;
    uint b = gl_WorkGroupID.y / pc.H, h = gl_WorkGroupID.y % pc.H;
    uint firstQuery = gl_WorkGroupID.x * ROWS_PER_GROUP;
    // Keys any row of this workgroup may see; uniform over the group, so barriers stay in uniform flow.
    uint keyEnd = pc.causal != 0u ? min(T, firstQuery + ROWS_PER_GROUP) : T;
    uint firstRow = gl_SubgroupID * CM_M;  // the subgroup's first row within the workgroup

    STAGE_ROWS(queries, ROWS_PER_GROUP, firstQuery, T, QKV_STAGED(0u), QKV_ZERO)
    for (uint r = gl_LocalInvocationIndex; r < ROWS_PER_GROUP; r += ROW_BLOCK) {
        rowMax[r] = NO_MAXIMUM;
        rowSum[r] = 0.0;
    }
    CM_C outAcc[HEAD_DIM / CM_N];
    [[unroll]] for (uint n = 0u; n < HEAD_DIM / CM_N; n++) outAcc[n] = CM_C(0.0);

    for (uint keyStart = 0u; keyStart < keyEnd; keyStart += BLOCK) {
        barrier();  // every subgroup is done with the previous block (and the queries are staged)
        STAGE_ROWS(keys, BLOCK, keyStart, keyEnd, QKV_STAGED(1u), QKV_ZERO)
        STAGE_ROWS(values, BLOCK, keyStart, keyEnd, QKV_STAGED(2u), QKV_ZERO)
        barrier();

        for (uint n = 0u; n < BLOCK / CM_N; n++) {
            CM_C s = CM_C(0.0);
            ROWS_TIMES_ROWS(s, queries, firstRow, keys, n * CM_N)
            coopMatStore(s, scores, firstRow * SCORE_STRIDE + n * CM_N, SCORE_STRIDE, ROW_MAJOR);
        }
        subgroup_sync();

        for (uint r = gl_SubgroupInvocationID; r < CM_M; r += gl_SubgroupSize) {
            uint row = firstRow + r, query = firstQuery + row;
            // Keys the row sees. Rows past T (zero queries) see keys as the last row does and are never written: finite
            // statistics there keep the lavapipe emulation layer from corrupting the other subgroup (it did when a
            // whole subgroup saw no key).
            uint seenEnd = pc.causal != 0u ? min(query + 1u, T) : T;
            uint seenInBlock = seenEnd > keyStart ? min(BLOCK, seenEnd - keyStart) : 0u;
            float previousMax = rowMax[row], blockMax = previousMax;
            // A uniform loop with the mask as a select: looping to seenInBlock (lane-varying) gave wrong rows through the
            // lavapipe emulation layer at subgroup 16.
            for (uint j = 0u; j < BLOCK; j++) blockMax = j < seenInBlock ? max(blockMax, scores[row * SCORE_STRIDE + j] * SCALE) : blockMax;
            float correction = exp(previousMax - blockMax);
            float sum = rowSum[row] * correction;
            for (uint j = 0u; j < BLOCK; j++) {
                float p = j < seenInBlock ? exp(scores[row * SCORE_STRIDE + j] * SCALE - blockMax) : 0.0;
                sum += p;
                probabilities[row * BLOCK_STRIDE + j] = float16_t(p);
            }
            rowMax[row] = blockMax;
            rowSum[row] = sum;
            rowCorrection[row] = correction;
        }
        subgroup_sync();

        // Every block, even when no maximum grew: branching on a subgroup vote around these cooperative-matrix
        // operations gave wrong results through the lavapipe emulation layer.
        [[unroll]] for (uint n = 0u; n < HEAD_DIM / CM_N; n++) {
            coopMatStore(outAcc[n], scores, firstRow * SCORE_STRIDE, SCORE_STRIDE, ROW_MAJOR);
            subgroup_sync();
            for (uint e = gl_SubgroupInvocationID; e < CM_M * CM_N; e += gl_SubgroupSize) {
                uint row = firstRow + e / CM_N;
                scores[row * SCORE_STRIDE + e % CM_N] *= rowCorrection[row];
            }
            subgroup_sync();
            coopMatLoad(outAcc[n], scores, firstRow * SCORE_STRIDE, SCORE_STRIDE, ROW_MAJOR);
            subgroup_sync();  // loaded before the next tile overwrites the scratch
        }
        WEIGHTS_TIMES_ROWS(outAcc, probabilities, firstRow, values)
    }

    // LSE before the O rows: written after them, these stores were lost through the lavapipe emulation layer.
    for (uint r = gl_SubgroupInvocationID; r < CM_M; r += gl_SubgroupSize) {
        uint query = firstQuery + firstRow + r;
        if (query < T) lse[lse_index(pc.lseBase, b, h, query)] = rowMax[firstRow + r] + log(rowSum[firstRow + r]);
    }
    WRITE_ROWS(outAcc, scores, firstRow, firstQuery + firstRow + r < T, 1.0 / rowSum[firstRow + r],
        o, row_index(pc.outBase, b, firstQuery + firstRow + r, h))
}
