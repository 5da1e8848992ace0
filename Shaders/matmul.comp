#version 450
// matmul: C[b][i][j] (+)= sum over r < R of A(b, i, r) * B(b, j, r), fp32 accumulation, i < M, j < N.
// Every linear-layer product is this one form with different strides (MatmulKernels.cs maps them):
//   forward          Y[M,N]  = X[M,K]  . W[N,K]^T   A = X (r unit stride), B = W (r unit stride)
//   backward input  dX[M,K]  = dY[M,N] . W[N,K]     A = dY (r unit stride), B = W seen as (j=k, r=n), j unit stride
//   backward weight dW[N,K]  = dY^T . X             A = dY seen as (i=n, r=m), B = X seen as (j=k, r=m), i/j unit stride
// Element addresses: A(b,i,r) = a[a_offset + b*a_batch + i*a_stride_i + r*a_stride_r], likewise B with j;
// C(b,i,j) = c[c_offset + b*c_batch + i*c_stride_i + j]. One operand always has unit stride along
// r or along its row index; A_UNIT_R / B_UNIT_R say which (the other stride is then 1).
// Bindings: 0 a (read), 1 b (read), 2 c (written; read too when accumulate != 0); with TEXEL_LOADS a and b
//   are read from the runtime's texel bindings 8 and 9 (views of slots 0 and 1: fp32x4 texels where A_VEC4 / B_VEC4, fp32 otherwise).
// Push: uint M, N, R, accumulate, a_offset, a_stride_i, a_stride_r, a_batch, b_offset, b_stride_j,
//       b_stride_r, b_batch, c_offset, c_stride_i, c_batch, split_count, split_length, c_split (all in
//       elements). Grid: x = column tiles, y = row tiles, z = batch * split_count.
// Split-K: workgroup z = batch * split_count + s reduces only r in [s * split_length, (s + 1) * split_length)
//       and writes C at c_offset + batch * c_batch + s * c_split: partial products that matmul_split_reduce.comp
//       sums in a fixed order (no atomics: bit-reproducible). split_count = 1 is the plain product.
// Spec: 0 WG_X, 1 WG_Y (workgroup shape; lanes run along x, i.e. along j), 2 A_UNIT_R, 3 B_UNIT_R,
//       4 A_VEC4, 5 B_VEC4 (1 = the host proved vec4 loads along the unit-stride dimension are aligned
//       and whole: offset, batch stride and the other stride are multiples of 4, and so is the extent
//       of a vectorised row dimension).
// Variants (register block TM x TN outputs per invocation, fixed at build time so loops unroll):
//   matmul_simple       one output per invocation, scalar loads: the reference path (VKDIFF_MATMUL=reference)
//   matmul_reg4x4/8x8   register-blocked, no shared memory, vec4 storage loads (VKDIFF_MATMUL=register)
//   matmul_texel4x4/8x16 the same, loading through texel buffers: the CPU path. lavapipe runs 8
//                       invocations as SIMD lanes; a storage load with lane-varying addresses becomes a
//                       loop over the lanes with a bounds check per component, a texel fetch one vector
//                       gather. Either way the win is many FMAs per load, and no barriers.
//   matmul_tiled4x4/8x8 shared-memory tiles of (WG_Y*TM) x (WG_X*TN) x TILE_K, strided register block:
//                       the GPU path
//   matmul_coopmat_f16_MxNxK  cooperative matrices (VK_KHR_cooperative_matrix: tensor cores, WMMA, XMX) with
//                       fp16 A and B tiles of M x K and K x N and fp32 accumulators: operands are converted to
//                       fp16 while staged in shared memory, so fp32 buffers work unchanged. The variant is
//                       chosen from the shapes the device lists; SG_M x SG_N subgroups per workgroup
//                       (WG_X = SG_M * SG_N * subgroup size, WG_Y = 1), each owning CM_TILES x CM_TILES tiles.
// Operand storage: fp32, or with a _f16 / _bf16 suffix 16-bit a and b (STORAGE_F16, STORAGE_BF16: mixed precision,
//   Runtime/Kernels/Precision.cs), converted to fp32 on load (bf16 is the top half of an fp32); offsets, strides and
//   vec4 groups count elements either way, and c stays fp32. Needs storageBuffer16BitAccess (and shaderFloat16 for
//   fp16). The texel path has no 16-bit variant (the runtime uses the register path instead), nor does the
//   cooperative-matrix path for bf16 (the device's fp16 shapes cannot hold bf16's range; the tiled path runs).
//! variant matmul_simple -DSIMPLE=1
//! variant matmul_reg4x4 -DREGISTER_BLOCKED=1 -DTM=4 -DTN=4
//! variant matmul_reg8x8 -DREGISTER_BLOCKED=1 -DTM=8 -DTN=8
//! variant matmul_texel4x4 -DREGISTER_BLOCKED=1 -DTEXEL_LOADS=1 -DTM=4 -DTN=4
//! variant matmul_texel8x16 -DREGISTER_BLOCKED=1 -DTEXEL_LOADS=1 -DTM=8 -DTN=16
//! variant matmul_tiled4x4 -DSHARED_TILES=1 -DTM=4 -DTN=4 -DTILE_K=16
//! variant matmul_tiled8x8 -DSHARED_TILES=1 -DTM=8 -DTN=8 -DTILE_K=8
//! variant matmul_coopmat_f16_16x16x16 target=vulkan1.3 -DCOOPMAT=1 -DCM_M=16 -DCM_N=16 -DCM_K=16
//! variant matmul_coopmat_f16_16x8x16 target=vulkan1.3 -DCOOPMAT=1 -DCM_M=16 -DCM_N=8 -DCM_K=16
//! variant matmul_coopmat_f16_8x16x16 target=vulkan1.3 -DCOOPMAT=1 -DCM_M=8 -DCM_N=16 -DCM_K=16
//! variant matmul_coopmat_f16_8x8x8 target=vulkan1.3 -DCOOPMAT=1 -DCM_M=8 -DCM_N=8 -DCM_K=8
//! variant matmul_simple_f16 -DSIMPLE=1 -DSTORAGE_F16=1
//! variant matmul_reg4x4_f16 -DREGISTER_BLOCKED=1 -DTM=4 -DTN=4 -DSTORAGE_F16=1
//! variant matmul_reg8x8_f16 -DREGISTER_BLOCKED=1 -DTM=8 -DTN=8 -DSTORAGE_F16=1
//! variant matmul_tiled4x4_f16 -DSHARED_TILES=1 -DTM=4 -DTN=4 -DTILE_K=16 -DSTORAGE_F16=1
//! variant matmul_tiled8x8_f16 -DSHARED_TILES=1 -DTM=8 -DTN=8 -DTILE_K=8 -DSTORAGE_F16=1
//! variant matmul_simple_bf16 -DSIMPLE=1 -DSTORAGE_BF16=1
//! variant matmul_reg4x4_bf16 -DREGISTER_BLOCKED=1 -DTM=4 -DTN=4 -DSTORAGE_BF16=1
//! variant matmul_reg8x8_bf16 -DREGISTER_BLOCKED=1 -DTM=8 -DTN=8 -DSTORAGE_BF16=1
//! variant matmul_tiled4x4_bf16 -DSHARED_TILES=1 -DTM=4 -DTN=4 -DTILE_K=16 -DSTORAGE_BF16=1
//! variant matmul_tiled8x8_bf16 -DSHARED_TILES=1 -DTM=8 -DTN=8 -DTILE_K=8 -DSTORAGE_BF16=1
//! variant matmul_coopmat_f16_16x16x16_f16 target=vulkan1.3 -DCOOPMAT=1 -DCM_M=16 -DCM_N=16 -DCM_K=16 -DSTORAGE_F16=1
//! variant matmul_coopmat_f16_16x8x16_f16 target=vulkan1.3 -DCOOPMAT=1 -DCM_M=16 -DCM_N=8 -DCM_K=16 -DSTORAGE_F16=1
//! variant matmul_coopmat_f16_8x16x16_f16 target=vulkan1.3 -DCOOPMAT=1 -DCM_M=8 -DCM_N=16 -DCM_K=16 -DSTORAGE_F16=1
//! variant matmul_coopmat_f16_8x8x8_f16 target=vulkan1.3 -DCOOPMAT=1 -DCM_M=8 -DCM_N=8 -DCM_K=8 -DSTORAGE_F16=1
#include "common.glsl"

#if defined(STORAGE_F16)
#extension GL_EXT_shader_16bit_storage : require
#define FLOAT_TYPE float16_t
#define VEC4_TYPE f16vec4
#define TO_FLOAT(value) float(value)
#define TO_VEC4(value) vec4(value)
#elif defined(STORAGE_BF16)
#extension GL_EXT_shader_16bit_storage : require
#define FLOAT_TYPE uint16_t
#define VEC4_TYPE u16vec4
#define TO_FLOAT(value) uintBitsToFloat(uint(value) << 16)
#define TO_VEC4(value) uintBitsToFloat(uvec4(value) << 16)
#else
#define FLOAT_TYPE float
#define VEC4_TYPE vec4
#define TO_FLOAT(value) (value)
#define TO_VEC4(value) (value)
#endif

layout(constant_id = 0) const uint WG_X = 16;
layout(constant_id = 1) const uint WG_Y = 16;
layout(constant_id = 2) const bool A_UNIT_R = true;
layout(constant_id = 3) const bool B_UNIT_R = true;
layout(constant_id = 4) const bool A_VEC4 = false;
layout(constant_id = 5) const bool B_VEC4 = false;
layout(local_size_x_id = 0, local_size_y_id = 1) in;

// Scalar and vec4 views of the same operands (aliased bindings).
layout(std430, set = 0, binding = 0) readonly buffer AScalar { FLOAT_TYPE a_s[]; };
layout(std430, set = 0, binding = 0) readonly buffer AVector { VEC4_TYPE a_v[]; };
layout(std430, set = 0, binding = 1) readonly buffer BScalar { FLOAT_TYPE b_s[]; };
layout(std430, set = 0, binding = 1) readonly buffer BVector { VEC4_TYPE b_v[]; };
layout(std430, set = 0, binding = 2) buffer C { float c[]; };

// Element loads (a_at, b_at) and aligned vec4 loads (a4_at, b4_at: vec4 number i = elements 4i..4i+3).
#if defined(TEXEL_LOADS)
// The same operands read as texel buffers (the runtime's texel bindings for slots 0 and 1): fp32x4 texels
// when the host set A_VEC4 / B_VEC4, fp32 texels otherwise.
layout(set = 0, binding = 8) uniform samplerBuffer a_texels;
layout(set = 0, binding = 9) uniform samplerBuffer b_texels;
float a_at(uint index) {
    if (A_VEC4) return texelFetch(a_texels, int(index >> 2))[index & 3u];
    return texelFetch(a_texels, int(index)).x;
}
float b_at(uint index) {
    if (B_VEC4) return texelFetch(b_texels, int(index >> 2))[index & 3u];
    return texelFetch(b_texels, int(index)).x;
}
vec4 a4_at(uint vector_index) { return texelFetch(a_texels, int(vector_index)); }
vec4 b4_at(uint vector_index) { return texelFetch(b_texels, int(vector_index)); }
#else
float a_at(uint index) { return TO_FLOAT(a_s[index]); }
float b_at(uint index) { return TO_FLOAT(b_s[index]); }
vec4 a4_at(uint vector_index) { return TO_VEC4(a_v[vector_index]); }
vec4 b4_at(uint vector_index) { return TO_VEC4(b_v[vector_index]); }
#endif

layout(push_constant) uniform Push {
    uint M, N, R, accumulate;
    uint a_offset, a_stride_i, a_stride_r, a_batch;
    uint b_offset, b_stride_j, b_stride_r, b_batch;
    uint c_offset, c_stride_i, c_batch;
    uint split_count, split_length, c_split;
} pc;

void store_output(uint c_base, uint i, uint j, float value) {
    uint index = c_base + i * pc.c_stride_i + j;
    if (pc.accumulate != 0u) value += c[index];
    c[index] = value;
}

// This workgroup's batch entry, its slice [r_begin, r_end) of the reduction, and where its output starts.
uint batch_index() { return gl_WorkGroupID.z / pc.split_count; }
uint split_index() { return gl_WorkGroupID.z % pc.split_count; }
uint r_begin() { return split_index() * pc.split_length; }
uint r_end() { return min(pc.R, r_begin() + pc.split_length); }
uint output_base() { return pc.c_offset + batch_index() * pc.c_batch + split_index() * pc.c_split; }

#if defined(SIMPLE)
void main() {
    uint i = gl_GlobalInvocationID.y, j = gl_GlobalInvocationID.x, batch = batch_index();
    if (i >= pc.M || j >= pc.N) return;
    uint a_row = pc.a_offset + batch * pc.a_batch + i * pc.a_stride_i;
    uint b_row = pc.b_offset + batch * pc.b_batch + j * pc.b_stride_j;
    float sum = 0.0;
    for (uint r = r_begin(); r < r_end(); r++) sum += a_at(a_row + r * pc.a_stride_r) * b_at(b_row + r * pc.b_stride_r);
    store_output(output_base(), i, j, sum);
}

#elif defined(REGISTER_BLOCKED)
// Invocation (x, y) owns rows i0..i0+TM-1 and columns j0..j0+TN-1. Rows and columns past the edge are
// clamped to the last valid one (a vec4 group to the last whole group) so every load stays in range
// without a branch in the inner loop; their results are simply not stored.

// a4[t][q] = A(row t, r + q): four reduction steps of the owned rows, vec4 loads where the host allowed them.
void load_a4(uint a_row[TM], uint r, out vec4 a4[TM]) {
    if (A_VEC4 && A_UNIT_R) {
        [[unroll]] for (uint t = 0u; t < TM; t++) a4[t] = a4_at((a_row[t] + r) >> 2);
    } else if (A_VEC4) {
        // Unit stride along i: one vec4 holds four rows at one r; transpose into a4.
        [[unroll]] for (uint g = 0u; g < TM; g += 4u)
            [[unroll]] for (uint q = 0u; q < 4u; q++) {
                vec4 rows = a4_at((a_row[g] + (r + q) * pc.a_stride_r) >> 2);
                a4[g][q] = rows.x; a4[g + 1u][q] = rows.y; a4[g + 2u][q] = rows.z; a4[g + 3u][q] = rows.w;
            }
    } else {
        [[unroll]] for (uint t = 0u; t < TM; t++)
            [[unroll]] for (uint q = 0u; q < 4u; q++) a4[t][q] = a_at(a_row[t] + (r + q) * pc.a_stride_r);
    }
}

// b4[u][q] = B(column u, r + q).
void load_b4(uint b_row[TN], uint r, out vec4 b4[TN]) {
    if (B_VEC4 && B_UNIT_R) {
        [[unroll]] for (uint u = 0u; u < TN; u++) b4[u] = b4_at((b_row[u] + r) >> 2);
    } else if (B_VEC4) {
        [[unroll]] for (uint g = 0u; g < TN; g += 4u)
            [[unroll]] for (uint q = 0u; q < 4u; q++) {
                vec4 cols = b4_at((b_row[g] + (r + q) * pc.b_stride_r) >> 2);
                b4[g][q] = cols.x; b4[g + 1u][q] = cols.y; b4[g + 2u][q] = cols.z; b4[g + 3u][q] = cols.w;
            }
    } else {
        [[unroll]] for (uint u = 0u; u < TN; u++)
            [[unroll]] for (uint q = 0u; q < 4u; q++) b4[u][q] = b_at(b_row[u] + (r + q) * pc.b_stride_r);
    }
}

void accumulate4(vec4 a4[TM], vec4 b4[TN], inout float acc[TM][TN]) {
    [[unroll]] for (uint q = 0u; q < 4u; q++)
        [[unroll]] for (uint t = 0u; t < TM; t++)
            [[unroll]] for (uint u = 0u; u < TN; u++) acc[t][u] = fma(a4[t][q], b4[u][q], acc[t][u]);
}

void main() {
    uint i0 = (gl_WorkGroupID.y * WG_Y + gl_LocalInvocationID.y) * TM;
    uint j0 = (gl_WorkGroupID.x * WG_X + gl_LocalInvocationID.x) * TN;
    if (i0 >= pc.M || j0 >= pc.N) return;
    uint batch = batch_index();

    // Base element of each owned row of A (at r = 0) and of each owned column of B.
    uint a_row[TM];
    [[unroll]] for (uint t = 0u; t < TM; t++) {
        uint i = (!A_UNIT_R && A_VEC4) ? min(i0 + (t & ~3u), pc.M - 4u) + (t & 3u) : min(i0 + t, pc.M - 1u);
        a_row[t] = pc.a_offset + batch * pc.a_batch + i * pc.a_stride_i;
    }
    uint b_row[TN];
    [[unroll]] for (uint u = 0u; u < TN; u++) {
        uint j = (!B_UNIT_R && B_VEC4) ? min(j0 + (u & ~3u), pc.N - 4u) + (u & 3u) : min(j0 + u, pc.N - 1u);
        b_row[u] = pc.b_offset + batch * pc.b_batch + j * pc.b_stride_j;
    }

    float acc[TM][TN];
    [[unroll]] for (uint t = 0u; t < TM; t++)
        [[unroll]] for (uint u = 0u; u < TN; u++) acc[t][u] = 0.0;

    vec4 a4[TM];
    vec4 b4[TN];
    // Split lengths are multiples of 4, so r stays vec4-aligned.
    uint r_first = r_begin(), r_last = r_end();
    uint r_main = r_first + ((r_last - r_first) & ~3u);
    for (uint r = r_first; r < r_main; r += 4u) {
        load_a4(a_row, r, a4);
        load_b4(b_row, r, b4);
        accumulate4(a4, b4, acc);
    }
    // Remainder of R, scalar loads.
    for (uint r = r_main; r < r_last; r++) {
        float a1[TM];
        [[unroll]] for (uint t = 0u; t < TM; t++) a1[t] = a_at(a_row[t] + r * pc.a_stride_r);
        [[unroll]] for (uint u = 0u; u < TN; u++) {
            float b1 = b_at(b_row[u] + r * pc.b_stride_r);
            [[unroll]] for (uint t = 0u; t < TM; t++) acc[t][u] += a1[t] * b1;
        }
    }

    uint c_base = output_base();
    [[unroll]] for (uint t = 0u; t < TM; t++)
        [[unroll]] for (uint u = 0u; u < TN; u++)
            if (i0 + t < pc.M && j0 + u < pc.N) store_output(c_base, i0 + t, j0 + u, acc[t][u]);
}

#elif defined(SHARED_TILES)
// The workgroup computes a (WG_Y*TM) x (WG_X*TN) tile of C. Each step stages TILE_K reduction steps of
// A and B in shared memory (zero-filled past the edges), reading global memory along the unit-stride
// dimension so neighbouring lanes read neighbouring addresses. Invocation (x, y) owns rows
// y + WG_Y*t and columns x + WG_X*u: strided, so shared-memory reads and global stores of
// neighbouring lanes are contiguous.
const uint TILE_M = WG_Y * TM;
const uint TILE_N = WG_X * TN;
shared float a_tile[TILE_K * TILE_M];
shared float b_tile[TILE_K * TILE_N];

void main() {
    uint tile_i = gl_WorkGroupID.y * TILE_M, tile_j = gl_WorkGroupID.x * TILE_N;
    uint batch = batch_index();
    uint x = gl_LocalInvocationID.x, y = gl_LocalInvocationID.y;
    uint lane = gl_LocalInvocationIndex, lanes = WG_X * WG_Y;
    uint a_base = pc.a_offset + batch * pc.a_batch, b_base = pc.b_offset + batch * pc.b_batch;

    float acc[TM][TN];
    [[unroll]] for (uint t = 0u; t < TM; t++)
        [[unroll]] for (uint u = 0u; u < TN; u++) acc[t][u] = 0.0;

    uint r_last = r_end();
    for (uint k0 = r_begin(); k0 < r_last; k0 += TILE_K) {
        for (uint l = lane; l < TILE_K * TILE_M; l += lanes) {
            uint r = A_UNIT_R ? l % TILE_K : l / TILE_M;
            uint i = A_UNIT_R ? l / TILE_K : l % TILE_M;
            uint gi = tile_i + i, gr = k0 + r;
            a_tile[r * TILE_M + i] = (gi < pc.M && gr < r_last) ? a_at(a_base + gi * pc.a_stride_i + gr * pc.a_stride_r) : 0.0;
        }
        for (uint l = lane; l < TILE_K * TILE_N; l += lanes) {
            uint r = B_UNIT_R ? l % TILE_K : l / TILE_N;
            uint j = B_UNIT_R ? l / TILE_K : l % TILE_N;
            uint gj = tile_j + j, gr = k0 + r;
            b_tile[r * TILE_N + j] = (gj < pc.N && gr < r_last) ? b_at(b_base + gj * pc.b_stride_j + gr * pc.b_stride_r) : 0.0;
        }
        barrier();
        [[unroll]] for (uint r = 0u; r < TILE_K; r++) {
            float a1[TM];
            float b1[TN];
            [[unroll]] for (uint t = 0u; t < TM; t++) a1[t] = a_tile[r * TILE_M + y + WG_Y * t];
            [[unroll]] for (uint u = 0u; u < TN; u++) b1[u] = b_tile[r * TILE_N + x + WG_X * u];
            [[unroll]] for (uint t = 0u; t < TM; t++)
                [[unroll]] for (uint u = 0u; u < TN; u++) acc[t][u] += a1[t] * b1[u];
        }
        barrier();
    }

    uint c_base = output_base();
    [[unroll]] for (uint t = 0u; t < TM; t++)
        [[unroll]] for (uint u = 0u; u < TN; u++) {
            uint i = tile_i + y + WG_Y * t, j = tile_j + x + WG_X * u;
            if (i < pc.M && j < pc.N) store_output(c_base, i, j, acc[t][u]);
        }
}

#elif defined(COOPMAT)
// The workgroup computes a BM x BN tile of C, BM = SG_M * CM_TILES * CM_M, BN = SG_N * CM_TILES * CM_N. Each step
// stages BK = 2 * CM_K reduction steps of A (as a_tile[i][r]) and B (as b_tile[j][r]) in shared memory as fp16,
// zero-filled past the edges and past this split's slice of r, reading global memory along the unit-stride
// dimension. Subgroup (sg_i, sg_j) owns CM_TILES x CM_TILES accumulator tiles. Results go out through a
// per-subgroup fp32 scratch tile so ragged edges and accumulation need no special case.
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require

// Subgroups per workgroup along i and j, and accumulator tiles per subgroup along each: fixed at build time,
// since the lavapipe emulation layer cannot size its lowering from specialization constants.
const uint SG_M = 2, SG_N = 2, CM_TILES = 2;
const uint BM = SG_M * CM_TILES * CM_M;
const uint BN = SG_N * CM_TILES * CM_N;
const uint BK = 2 * CM_K;
// Rows of the staged tiles are padded by 8 halves (16 bytes): aligned rows, fewer bank conflicts.
const uint TILE_STRIDE = BK + 8;
shared float16_t a_tile[BM * TILE_STRIDE];
shared float16_t b_tile[BN * TILE_STRIDE];
shared float c_scratch[SG_M * SG_N * CM_M * CM_N];

#define CM_A coopmat<float16_t, gl_ScopeSubgroup, CM_M, CM_K, gl_MatrixUseA>
#define CM_B coopmat<float16_t, gl_ScopeSubgroup, CM_K, CM_N, gl_MatrixUseB>
#define CM_C coopmat<float, gl_ScopeSubgroup, CM_M, CM_N, gl_MatrixUseAccumulator>

void main() {
    uint tile_i = gl_WorkGroupID.y * BM, tile_j = gl_WorkGroupID.x * BN;
    uint batch = batch_index();
    uint lane = gl_LocalInvocationIndex, lanes = WG_X * WG_Y;
    uint a_base = pc.a_offset + batch * pc.a_batch, b_base = pc.b_offset + batch * pc.b_batch;
    uint sg_i = gl_SubgroupID / SG_N, sg_j = gl_SubgroupID % SG_N;

    CM_C acc[CM_TILES][CM_TILES];
    [[unroll]] for (uint t = 0u; t < CM_TILES; t++)
        [[unroll]] for (uint u = 0u; u < CM_TILES; u++) acc[t][u] = CM_C(0.0);

    uint r_last = r_end();
    for (uint k0 = r_begin(); k0 < r_last; k0 += BK) {
        for (uint l = lane; l < BK * BM; l += lanes) {
            uint r = A_UNIT_R ? l % BK : l / BM;
            uint i = A_UNIT_R ? l / BK : l % BM;
            uint gi = tile_i + i, gr = k0 + r;
            a_tile[i * TILE_STRIDE + r] = float16_t((gi < pc.M && gr < r_last) ? a_at(a_base + gi * pc.a_stride_i + gr * pc.a_stride_r) : 0.0);
        }
        for (uint l = lane; l < BK * BN; l += lanes) {
            uint r = B_UNIT_R ? l % BK : l / BN;
            uint j = B_UNIT_R ? l / BK : l % BN;
            uint gj = tile_j + j, gr = k0 + r;
            b_tile[j * TILE_STRIDE + r] = float16_t((gj < pc.N && gr < r_last) ? b_at(b_base + gj * pc.b_stride_j + gr * pc.b_stride_r) : 0.0);
        }
        barrier();
        [[unroll]] for (uint kk = 0u; kk < BK; kk += CM_K) {
            CM_A a_frag[CM_TILES];
            CM_B b_frag[CM_TILES];
            // A (i, r) is row-major in a_tile; B (r, j) sits at b_tile[j][r], i.e. column-major.
            [[unroll]] for (uint t = 0u; t < CM_TILES; t++)
                coopMatLoad(a_frag[t], a_tile, ((sg_i * CM_TILES + t) * CM_M) * TILE_STRIDE + kk, TILE_STRIDE, gl_CooperativeMatrixLayoutRowMajor);
            [[unroll]] for (uint u = 0u; u < CM_TILES; u++)
                coopMatLoad(b_frag[u], b_tile, ((sg_j * CM_TILES + u) * CM_N) * TILE_STRIDE + kk, TILE_STRIDE, gl_CooperativeMatrixLayoutColumnMajor);
            [[unroll]] for (uint t = 0u; t < CM_TILES; t++)
                [[unroll]] for (uint u = 0u; u < CM_TILES; u++) acc[t][u] = coopMatMulAdd(a_frag[t], b_frag[u], acc[t][u]);
        }
        barrier();
    }

    uint c_base = output_base();
    uint scratch = gl_SubgroupID * CM_M * CM_N;
    [[unroll]] for (uint t = 0u; t < CM_TILES; t++)
        [[unroll]] for (uint u = 0u; u < CM_TILES; u++) {
            coopMatStore(acc[t][u], c_scratch, scratch, CM_N, gl_CooperativeMatrixLayoutRowMajor);
            subgroupMemoryBarrierShared();
            subgroupBarrier();
            uint i0 = tile_i + (sg_i * CM_TILES + t) * CM_M, j0 = tile_j + (sg_j * CM_TILES + u) * CM_N;
            for (uint e = gl_SubgroupInvocationID; e < CM_M * CM_N; e += gl_SubgroupSize) {
                uint i = i0 + e / CM_N, j = j0 + e % CM_N;
                if (i < pc.M && j < pc.N) store_output(c_base, i, j, c_scratch[scratch + e]);
            }
            subgroupMemoryBarrierShared();
            subgroupBarrier();
        }
}
#endif
