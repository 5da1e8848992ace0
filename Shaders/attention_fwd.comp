#version 450
// attention_fwd: fused scaled-dot-product attention forward, causal or bidirectional, in O(T) memory.
//   O[b,i,h,:] = sum_j softmax_j(Q_i . K_j / sqrt(HEAD_DIM)) V_j   (causal: j <= i)
//   LSE[b,h,i] = log sum_j exp(Q_i . K_j / sqrt(HEAD_DIM))        (kept for the backward pass)
// The T x T scores are never stored: each invocation owns ROWS query rows (their q and output
// accumulators) and walks the keys with an online softmax per row (running max m, running sum l,
// rescaling the accumulator when m grows), STAGE_BLOCK keys and values at a time (staged in shared
// memory by the workgroup on GPUs). Each key and value element is loaded once per invocation and used
// for all ROWS rows (register blocking, see attention_common.glsl). Causal: key blocks past the
// workgroup's last query are never loaded or computed; inside the diagonal block the keys after a row's
// own position get probability exactly 0. fp32 arithmetic throughout; deterministic (fixed order). The _f16 / _bf16
// variants read 16-bit qkv (mixed precision), converted to fp32 as read, from storage buffers only.
// Layouts, grid and push constants: attention_common.glsl.
// Bindings: 0 qkv (read; texels at binding 8 when TEXEL_MODE != 0), 1 O (written), 2 LSE (written).
// Spec: 0 = ROW_BLOCK (invocations per workgroup), 1 = STAGE_BLOCK (keys per step), 2 = STAGE_IN_SHARED
// (1: stage each key block in shared memory, GPUs; 0: read keys in place, CPU devices), 3 = TEXEL_MODE.
// Shared memory: 2 * STAGE_BLOCK * HEAD_DIM floats.
//! variant attention_fwd_d16 -DHEAD_DIM=16 -DROWS=1
//! variant attention_fwd_d32 -DHEAD_DIM=32 -DROWS=1
//! variant attention_fwd_d64 -DHEAD_DIM=64 -DROWS=1
//! variant attention_fwd_d128 -DHEAD_DIM=128 -DROWS=1
//! variant attention_fwd_d128_rolled -DHEAD_DIM=128 -DROWS=1 -DROLLED_HEAD_DIM=1
//! variant attention_fwd_rows8_d16 -DHEAD_DIM=16 -DROWS=8
//! variant attention_fwd_rows8_d32 -DHEAD_DIM=32 -DROWS=8
//! variant attention_fwd_rows8_d64 -DHEAD_DIM=64 -DROWS=8
//! variant attention_fwd_rows4_d128 -DHEAD_DIM=128 -DROWS=4
//! variant attention_fwd_d16_f16 -DHEAD_DIM=16 -DROWS=1 -DACT_F16=1
//! variant attention_fwd_d32_f16 -DHEAD_DIM=32 -DROWS=1 -DACT_F16=1
//! variant attention_fwd_d64_f16 -DHEAD_DIM=64 -DROWS=1 -DACT_F16=1
//! variant attention_fwd_d128_f16 -DHEAD_DIM=128 -DROWS=1 -DACT_F16=1
//! variant attention_fwd_d128_rolled_f16 -DHEAD_DIM=128 -DROWS=1 -DACT_F16=1 -DROLLED_HEAD_DIM=1
//! variant attention_fwd_rows8_d16_f16 -DHEAD_DIM=16 -DROWS=8 -DACT_F16=1
//! variant attention_fwd_rows8_d32_f16 -DHEAD_DIM=32 -DROWS=8 -DACT_F16=1
//! variant attention_fwd_rows8_d64_f16 -DHEAD_DIM=64 -DROWS=8 -DACT_F16=1
//! variant attention_fwd_rows4_d128_f16 -DHEAD_DIM=128 -DROWS=4 -DACT_F16=1
//! variant attention_fwd_d16_bf16 -DHEAD_DIM=16 -DROWS=1 -DACT_BF16=1
//! variant attention_fwd_d32_bf16 -DHEAD_DIM=32 -DROWS=1 -DACT_BF16=1
//! variant attention_fwd_d64_bf16 -DHEAD_DIM=64 -DROWS=1 -DACT_BF16=1
//! variant attention_fwd_d128_bf16 -DHEAD_DIM=128 -DROWS=1 -DACT_BF16=1
//! variant attention_fwd_d128_rolled_bf16 -DHEAD_DIM=128 -DROWS=1 -DACT_BF16=1 -DROLLED_HEAD_DIM=1
//! variant attention_fwd_rows8_d16_bf16 -DHEAD_DIM=16 -DROWS=8 -DACT_BF16=1
//! variant attention_fwd_rows8_d32_bf16 -DHEAD_DIM=32 -DROWS=8 -DACT_BF16=1
//! variant attention_fwd_rows8_d64_bf16 -DHEAD_DIM=64 -DROWS=8 -DACT_BF16=1
//! variant attention_fwd_rows4_d128_bf16 -DHEAD_DIM=128 -DROWS=4 -DACT_BF16=1
#include "attention_common.glsl"
// Element d of key / value j of the current block (staged, or read in place: STAGE_IN_SHARED).
#define KEY(j, d) (STAGE_IN_SHARED ? keys[(j) * HEAD_DIM + (d)] : qkv_at(keyAt + (j) * stride + (d)))
#define VALUE(j, d) (STAGE_IN_SHARED ? values[(j) * HEAD_DIM + (d)] : qkv_at(valueAt + (j) * stride + (d)))
// Elements d..d+3 of key / value j (d a multiple of 4).
#define KEY4(j, d) (STAGE_IN_SHARED ? vec4(KEY(j, d), KEY(j, d + 1u), KEY(j, d + 2u), KEY(j, d + 3u)) : qkv4_at(keyAt + (j) * stride + (d)))
#define VALUE4(j, d) (STAGE_IN_SHARED ? vec4(VALUE(j, d), VALUE(j, d + 1u), VALUE(j, d + 2u), VALUE(j, d + 3u)) : qkv4_at(valueAt + (j) * stride + (d)))

layout(std430, set = 0, binding = 1) writeonly buffer Out { float o[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Lse { float lse[]; };

shared float keys[STAGE_BLOCK * HEAD_DIM];
shared float values[STAGE_BLOCK * HEAD_DIM];

void main() {
    uint T = pc.T;
    uint b = gl_WorkGroupID.y / pc.H, h = gl_WorkGroupID.y % pc.H;
    uint firstQuery = gl_WorkGroupID.x * ROW_BLOCK * ROWS;
    uint lastQuery = min(T, firstQuery + ROW_BLOCK * ROWS) - 1u;
    // Keys any row of this workgroup may see; uniform over the group, so barriers stay in uniform flow.
    uint keyEnd = pc.causal != 0u ? lastQuery + 1u : T;

    float q[ROWS][HEAD_DIM];
    float acc[ROWS][HEAD_DIM];
    float m[ROWS], l[ROWS];
    uint rowKeyEnd[ROWS];  // how many keys row t sees: rows past T see none
    [[unroll]] for (uint t = 0; t < ROWS; t++) {
        uint query = owned_row(firstQuery, t);
        rowKeyEnd[t] = query >= T ? 0u : (pc.causal != 0u ? query + 1u : T);
        uint qAt = qkv_index(b, min(query, T - 1u), 0u, h);
        HEAD_DIM_UNROLL for (uint d = 0; d < HEAD_DIM; d++) {
            q[t][d] = qkv_at(qAt + d) * SCALE;
            acc[t][d] = 0.0;
        }
        m[t] = NO_MAXIMUM;
        l[t] = 0.0;
    }

    for (uint keyStart = 0; keyStart < keyEnd; keyStart += STAGE_BLOCK) {
        if (STAGE_IN_SHARED) {
            barrier();  // every row is done with the previous block
            for (uint e = gl_LocalInvocationID.x; e < STAGE_BLOCK * HEAD_DIM; e += ROW_BLOCK) {
                uint key = keyStart + e / HEAD_DIM, d = e % HEAD_DIM;
                bool present = key < keyEnd;
                keys[e] = present ? qkv_at(qkv_index(b, key, 1u, h) + d) : 0.0;
                values[e] = present ? qkv_at(qkv_index(b, key, 2u, h) + d) : 0.0;
            }
            barrier();
        }
        uint keyAt = qkv_index(b, keyStart, 1u, h), valueAt = keyAt + pc.H * HEAD_DIM, stride = qkv_token_stride();
        // Uniform loop bound, no divergent branch around the loads; keys a row may not see are masked
        // arithmetically (p = 0, max untouched).
        uint blockKeys = min(STAGE_BLOCK, keyEnd - keyStart);
        for (uint j = 0; j < blockKeys; j++) {
            float k[HEAD_DIM];
            HEAD_DIM_UNROLL for (uint d = 0; d < HEAD_DIM; d += 4u) {
                vec4 k4 = KEY4(j, d);
                k[d] = k4.x; k[d + 1u] = k4.y; k[d + 2u] = k4.z; k[d + 3u] = k4.w;
            }
            float p[ROWS];
            [[unroll]] for (uint t = 0; t < ROWS; t++) {
                // Four independent partial sums: one dependent chain of HEAD_DIM fused multiply-adds would be
                // bound by FMA latency, not throughput.
                vec4 partial = vec4(0.0);
                HEAD_DIM_UNROLL for (uint d = 0; d < HEAD_DIM; d += 4u)
                    partial += vec4(q[t][d], q[t][d + 1u], q[t][d + 2u], q[t][d + 3u]) * vec4(k[d], k[d + 1u], k[d + 2u], k[d + 3u]);
                bool seen = keyStart + j < rowKeyEnd[t];
                float s = seen ? (partial.x + partial.y) + (partial.z + partial.w) : NO_MAXIMUM;
                // Rescale only when the maximum grows: rare after the first keys.
                if (s > m[t]) {
                    float correction = exp(m[t] - s);
                    l[t] *= correction;
                    HEAD_DIM_UNROLL for (uint d = 0; d < HEAD_DIM; d++) acc[t][d] *= correction;
                    m[t] = s;
                }
                p[t] = seen ? exp(s - m[t]) : 0.0;
                l[t] += p[t];
            }
            HEAD_DIM_UNROLL for (uint d = 0; d < HEAD_DIM; d += 4u) {
                vec4 v4 = VALUE4(j, d);
                [[unroll]] for (uint e = 0; e < 4u; e++)
                    [[unroll]] for (uint t = 0; t < ROWS; t++) acc[t][d + e] += p[t] * v4[e];
            }
        }
    }

    [[unroll]] for (uint t = 0; t < ROWS; t++) {
        uint query = owned_row(firstQuery, t);
        if (query < T) {
            uint outAt = row_index(pc.outBase, b, query, h);
            float inverse = 1.0 / l[t];
            HEAD_DIM_UNROLL for (uint d = 0; d < HEAD_DIM; d++) o[outAt + d] = acc[t][d] * inverse;
            lse[lse_index(pc.lseBase, b, h, query)] = m[t] + log(l[t]);
        }
    }
}
