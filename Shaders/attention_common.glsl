// Shared by the fused attention kernels (attention_fwd, attention_bwd, attention_bwd_dq): the qkv / O /
// LSE layouts, the two block sizes and the push constants.
//
// Layouts (row-major, fp32 unless said otherwise; "local" batch b counts from the first batch of this dispatch's chunk):
//   qkv  [B, T, 3, H, HEAD_DIM]  per token: Q of all heads | K of all heads | V of all heads; act_t (act_storage.glsl):
//                                fp32, or fp16 / bf16 in the variants with an _f16 / _bf16 suffix (ACT_F16, ACT_BF16),
//                                converted to fp32 as read (the cooperative-matrix kernels stage fp16 as stored)
//   O    [B, T, H, HEAD_DIM]     (and dO, and dQkv has the qkv layout)
//   LSE  [B, H, T]               log-sum-exp of the scaled scores of each query row (and delta)
// Each *Base push constant is the element offset (in its binding's elements) of element 0 of the chunk inside its binding: the host
// binds from an offset rounded down to minStorageBufferOffsetAlignment and passes the remainder here.
//
// Grid: x = blocks of ROW_BLOCK * ROWS rows (query rows in the forward and dQ passes, key rows in the
// dK/dV pass), y = local batch * H + head. One invocation owns ROWS rows (owned_row) and keeps them in
// registers; the other operand is walked STAGE_BLOCK rows at a time, staged in shared memory by the whole workgroup
// (STAGE_IN_SHARED) or read in place at addresses uniform over the workgroup.
#include "common.glsl"
#include "act_storage.glsl"

#ifndef HEAD_DIM
#error HEAD_DIM must be defined by the variant (16, 32, 64 or 128)
#endif
// Rows each invocation owns (register blocking): 1 on GPUs; 8 (4 at head dim 128) on CPU devices, where every buffer or
// shared-memory load inside a loop costs a per-lane loop (lavapipe only broadcasts uniform loads outside
// all control flow), so each loaded element of the other operand must feed several rows' arithmetic.
#ifndef ROWS
#error ROWS must be defined by the variant (rows per invocation)
#endif
// Loops over the head dim unroll fully, so the per-row vectors live in registers (constant indices). The _rolled
// variants (ROLLED_HEAD_DIM) keep them as loops: SwiftShader's JIT aborts on the unrolled head-dim-128 kernels ("Local
// variable exceeds stack size limit"), and compiles the rolled ones (KernelProfile.UnrolledHeadDims).
#ifdef ROLLED_HEAD_DIM
#define HEAD_DIM_UNROLL
#else
#define HEAD_DIM_UNROLL [[unroll]]
#endif

// Spec 0: invocations per workgroup (each owns ROWS rows). Spec 1: rows of the other operand staged per step.
layout(constant_id = 0) const uint ROW_BLOCK = 64;
layout(constant_id = 1) const uint STAGE_BLOCK = 32;
// Spec 2: 1 = stage the other operand in shared memory (GPUs); 0 = read it straight from the buffer at
// workgroup-uniform addresses, with no barriers (CPU devices such as lavapipe, where shared memory is
// ordinary memory and a kernel with barriers runs as coroutines).
layout(constant_id = 2) const bool STAGE_IN_SHARED = true;
// Spec 3, TEXEL_MODE (the runtime's TexelFormat): how qkv (and dO in the backward passes) are read. 0: storage buffers. 1: the
// runtime's texel bindings (views of slots 0 and 2 at bindings 8 and 10) with fp32 texels; 2: the same
// with fp32x4 texels (the host proved every row starts at a multiple of 4 elements). A CPU device fetches
// a texel for all SIMD lanes with one vector gather, where a storage load inside a loop is a loop over
// the lanes. The 16-bit variants read storage buffers only (the texel views are fp32, and bf16 has no texel format):
// TEXEL_MODE is then the constant 0, and the host's value for it is ignored.
#if ACT_16BIT
const uint TEXEL_MODE = 0u;
#else
layout(constant_id = 3) const uint TEXEL_MODE = 0;
#endif
const uint TEXELS_FLOAT = 1u, TEXELS_FLOAT4 = 2u;
layout(local_size_x_id = 0) in;

// Every fused kernel reads qkv from slot 0.
layout(std430, set = 0, binding = 0) readonly buffer Qkv { act_t qkv[]; };
layout(set = 0, binding = 8) uniform samplerBuffer qkvTexels;

// READERS(NAME, BUFFER, TEXELS, TO_FLOAT) defines NAME_at(index), one element, and NAME4_at(index), elements
// index..index+3 (index a multiple of 4 in TEXELS_FLOAT4 mode), read from the storage array BUFFER (its element
// converted by TO_FLOAT) or its texel view TEXELS as TEXEL_MODE says.
#define READERS(NAME, BUFFER, TEXELS, TO_FLOAT) \
    float NAME##_at(uint index) { \
        if (TEXEL_MODE == TEXELS_FLOAT4) return texelFetch(TEXELS, int(index >> 2))[index & 3u]; \
        if (TEXEL_MODE == TEXELS_FLOAT) return texelFetch(TEXELS, int(index)).x; \
        return TO_FLOAT(BUFFER[index]); \
    } \
    vec4 NAME##4_at(uint index) { \
        if (TEXEL_MODE == TEXELS_FLOAT4) return texelFetch(TEXELS, int(index >> 2)); \
        return vec4(NAME##_at(index), NAME##_at(index + 1u), NAME##_at(index + 2u), NAME##_at(index + 3u)); \
    }

READERS(qkv, qkv, qkvTexels, LOAD_ACT)

layout(push_constant) uniform Push {
    uint T;          // sequence length
    uint H;          // heads
    uint causal;     // 1: query i sees keys 0..i; 0: every key
    uint qkvBase;    // element offset of the chunk in the qkv binding
    uint outBase;    // ... in the O binding (forward) or the dO binding (backward)
    uint lseBase;    // ... in the LSE binding
    uint deltaBase;  // ... in the delta binding (backward)
    uint dQkvBase;   // ... in the dQkv binding (backward)
} pc;

// Softmax scale 1/sqrt(head_dim).
const float SCALE = 1.0 / sqrt(float(HEAD_DIM));

// Stands in for -infinity as the running maximum before any key was seen: exp(m - m') stays finite.
const float NO_MAXIMUM = -1.0e30;

// part: 0 = Q, 1 = K, 2 = V.
uint qkv_index(uint b, uint t, uint part, uint h) {
    return pc.qkvBase + (((b * pc.T + t) * 3u + part) * pc.H + h) * HEAD_DIM;
}

uint row_index(uint base, uint b, uint t, uint h) { return base + ((b * pc.T + t) * pc.H + h) * HEAD_DIM; }

// Elements between the same part of consecutive tokens in qkv.
uint qkv_token_stride() { return 3u * pc.H * HEAD_DIM; }

// Row t (< ROWS) of the invocation's rows in a workgroup whose rows start at firstRow: interleaved by
// ROW_BLOCK, so the lanes of a subgroup own consecutive rows.
uint owned_row(uint firstRow, uint t) { return firstRow + t * ROW_BLOCK + gl_LocalInvocationID.x; }

uint lse_index(uint base, uint b, uint h, uint t) { return base + (b * pc.H + h) * pc.T + t; }
