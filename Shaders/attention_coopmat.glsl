// Shared by the cooperative-matrix attention kernels (attention_fwd_coopmat, attention_bwd_coopmat,
// attention_bwd_dq_coopmat), after attention_common.glsl, whose layouts, push constants and grid y they keep.
// Every product runs on fp16 tiles of CM_M x CM_K (use A) and CM_K x CM_N (use B) with fp32 accumulators of
// CM_M x CM_N (the shape the device lists, a build-time variant). Operands are converted to fp16 while
// staged in shared memory, so the fp32 qkv / dO buffers work unchanged; the _f16 variants (ACT_F16) read fp16 qkv
// and stage it as stored, with no conversion. Scores, softmax statistics, delta and every accumulator stay fp32.
//
// Work split: a workgroup owns ROWS_PER_GROUP rows (query rows in the forward and dQ passes, key rows in
// the dK/dV pass), SUBGROUPS subgroups of CM_M rows each; it walks the other operand BLOCK rows at a time.
// Spec 0 (ROW_BLOCK) is the workgroup size, SUBGROUPS * the subgroup size: gl_SubgroupID then numbers the
// subgroups 0..SUBGROUPS-1 (the host fixes the subgroup size where a device varies it). Spec 1-3 are unused.
// Tile counts are build-time constants: the lavapipe emulation layer cannot size its lowering from
// specialization constants.
//
// Shared-memory rows are padded (HEAD_STRIDE, BLOCK_STRIDE: 8 halves; SCORE_STRIDE: 4 floats) so every
// row starts 16-byte aligned, as cooperative-matrix loads and stores need, with fewer bank conflicts.
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require

// The scalar kernels' register rows; the cooperative kernels own rows per subgroup instead.
#define ROWS 1
#include "attention_common.glsl"

#if !defined(CM_M) || !defined(CM_N) || !defined(CM_K)
#error CM_M, CM_N and CM_K (the cooperative-matrix tile) must be defined by the variant
#endif

// Keep in step with AttentionBlocks.CooperativeSubgroups and CooperativeBlock (the host's grid and shared-memory check).
const uint SUBGROUPS = 2u;
const uint ROWS_PER_GROUP = SUBGROUPS * CM_M;
// Rows of the other operand per step: a multiple of CM_N and CM_K; smaller at head dim 128 so the dK/dV pass
// stays under 48 KiB of shared memory.
const uint BLOCK = HEAD_DIM <= 64 ? 32u : 16u;
const uint HEAD_STRIDE = HEAD_DIM + 8u;
const uint BLOCK_STRIDE = BLOCK + 8u;
const uint SCORE_STRIDE = BLOCK + 4u;

#define CM_A coopmat<float16_t, gl_ScopeSubgroup, CM_M, CM_K, gl_MatrixUseA>
#define CM_B coopmat<float16_t, gl_ScopeSubgroup, CM_K, CM_N, gl_MatrixUseB>
#define CM_C coopmat<float, gl_ScopeSubgroup, CM_M, CM_N, gl_MatrixUseAccumulator>
#define ROW_MAJOR gl_CooperativeMatrixLayoutRowMajor
#define COLUMN_MAJOR gl_CooperativeMatrixLayoutColumnMajor

// Lanes of one subgroup wrote shared memory that the whole subgroup reads next (or the reverse).
void subgroup_sync() {
    subgroupMemoryBarrierShared();
    subgroupBarrier();
}

// Stages rows FIRST .. FIRST + COUNT - 1 into the fp16 tile TILE (row stride HEAD_STRIDE), the whole workgroup
// sharing the copy; ELEMENT is element d of row `token` and ZERO the zero of its type (rows from END on are zero):
// an fp32 read and 0.0, converted to fp16 here, or an fp16 read and float16_t(0.0), staged as they are.
#define STAGE_ROWS(TILE, COUNT, FIRST, END, ELEMENT, ZERO) \
    for (uint e = gl_LocalInvocationIndex; e < (COUNT) * HEAD_DIM; e += ROW_BLOCK) { \
        uint row = e / HEAD_DIM, d = e % HEAD_DIM, token = (FIRST) + row; \
        TILE[row * HEAD_STRIDE + d] = float16_t(token < (END) ? (ELEMENT) : ZERO); \
    }

// For STAGE_ROWS: element d of row `token` of qkv part PART (0 Q, 1 K, 2 V) of head h of batch b, and the zero of its
// type: fp16 qkv as stored, fp32 qkv as read.
#if defined(ACT_F16)
#define QKV_STAGED(PART) qkv[qkv_index(b, token, PART, h) + d]
#define QKV_ZERO float16_t(0.0)
#else
#define QKV_STAGED(PART) qkv_at(qkv_index(b, token, PART, h) + d)
#define QKV_ZERO 0.0
#endif

// ACC (CM_M x CM_N) = rows FIRST_ROW.. of X (row stride HEAD_STRIDE) times rows FIRST_COLUMN.. of Y transposed:
// a block of X Y^T, reducing over the head dim. Both tiles hold their rows along the head dim, so Y^T is read
// column-major.
#define ROWS_TIMES_ROWS(ACC, X, FIRST_ROW, Y, FIRST_COLUMN) \
    for (uint kk = 0u; kk < HEAD_DIM; kk += CM_K) { \
        CM_A x_; CM_B y_; \
        coopMatLoad(x_, X, (FIRST_ROW) * HEAD_STRIDE + kk, HEAD_STRIDE, ROW_MAJOR); \
        coopMatLoad(y_, Y, (FIRST_COLUMN) * HEAD_STRIDE + kk, HEAD_STRIDE, COLUMN_MAJOR); \
        ACC = coopMatMulAdd(x_, y_, ACC); \
    }

// ACC[n] (n < HEAD_DIM / CM_N) += W (CM_M x BLOCK, fp16, row stride BLOCK_STRIDE, from row FIRST_ROW) times the
// BLOCK staged rows of Y (row stride HEAD_STRIDE): a weighted sum of staged rows, reducing over the block.
#define WEIGHTS_TIMES_ROWS(ACC, W, FIRST_ROW, Y) \
    [[unroll]] for (uint n = 0u; n < HEAD_DIM / CM_N; n++) \
        for (uint kk = 0u; kk < BLOCK; kk += CM_K) { \
            CM_A w_; CM_B y_; \
            coopMatLoad(w_, W, (FIRST_ROW) * BLOCK_STRIDE + kk, BLOCK_STRIDE, ROW_MAJOR); \
            coopMatLoad(y_, Y, kk * HEAD_STRIDE + n * CM_N, HEAD_STRIDE, ROW_MAJOR); \
            ACC[n] = coopMatMulAdd(w_, y_, ACC[n]); \
        }

// Writes the CM_M x HEAD_DIM rows held in ACC[n] (n < HEAD_DIM / CM_N), each times FACTOR, to OUT[AT + column]
// where PRESENT holds, through the subgroup's fp32 scratch rows of SCRATCH (from FIRST_ROW, row stride
// SCORE_STRIDE). FACTOR, PRESENT and AT are expressions in r, the row within the subgroup's CM_M.
#define WRITE_ROWS(ACC, SCRATCH, FIRST_ROW, PRESENT, FACTOR, OUT, AT) \
    [[unroll]] for (uint n = 0u; n < HEAD_DIM / CM_N; n++) { \
        coopMatStore(ACC[n], SCRATCH, (FIRST_ROW) * SCORE_STRIDE, SCORE_STRIDE, ROW_MAJOR); \
        subgroup_sync(); \
        for (uint e = gl_SubgroupInvocationID; e < CM_M * CM_N; e += gl_SubgroupSize) { \
            uint r = e / CM_N; \
            if (PRESENT) OUT[(AT) + n * CM_N + e % CM_N] = SCRATCH[((FIRST_ROW) + r) * SCORE_STRIDE + e % CM_N] * (FACTOR); \
        } \
        subgroup_sync(); \
    }
