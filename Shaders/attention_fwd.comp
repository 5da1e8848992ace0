#version 450
// attention_fwd: fused scaled-dot-product attention forward, causal or bidirectional, in O(T) memory.
//   O[b,i,h,:] = sum_j softmax_j(Q_i . K_j / sqrt(HEAD_DIM)) V_j   (causal: j <= i)
//   LSE[b,h,i] = log sum_j exp(Q_i . K_j / sqrt(HEAD_DIM))        (kept for the backward pass)
// The T x T scores are never stored: each invocation owns one query row (q and the output accumulator
// in registers) and walks the keys with an online softmax (running max m, running sum l, rescaling the
// accumulator when m grows), STAGE_BLOCK keys and values at a time (staged in shared memory by the
// workgroup on GPUs). Causal: key blocks past the workgroup's last query are never loaded or computed;
// inside the diagonal block the keys after a row's own position get probability exactly 0. fp32 throughout; deterministic (fixed order).
// Layouts, grid and push constants: attention_common.glsl.
// Bindings: 0 qkv (read), 1 O (written), 2 LSE (written).
// Spec: 0 = ROW_BLOCK (query rows per workgroup), 1 = STAGE_BLOCK (keys per step), 2 = STAGE_IN_SHARED
// (1: stage each key block in shared memory, GPUs; 0: read keys in place at workgroup-uniform
// addresses with no barriers, CPU devices). Shared memory: 2 * STAGE_BLOCK * HEAD_DIM floats.
//! variant attention_fwd_d16 -DHEAD_DIM=16
//! variant attention_fwd_d32 -DHEAD_DIM=32
//! variant attention_fwd_d64 -DHEAD_DIM=64
//! variant attention_fwd_d128 -DHEAD_DIM=128
#include "attention_common.glsl"
// Element d of key / value j of the current block (staged, or read in place: STAGE_IN_SHARED).
#define KEY(j, d) (STAGE_IN_SHARED ? keys[(j) * HEAD_DIM + (d)] : qkv[keyAt + (j) * stride + (d)])
#define VALUE(j, d) (STAGE_IN_SHARED ? values[(j) * HEAD_DIM + (d)] : qkv[valueAt + (j) * stride + (d)])

layout(std430, set = 0, binding = 0) readonly buffer Qkv { float qkv[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Out { float o[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Lse { float lse[]; };

shared float keys[STAGE_BLOCK * HEAD_DIM];
shared float values[STAGE_BLOCK * HEAD_DIM];

void main() {
    uint T = pc.T;
    uint b = gl_WorkGroupID.y / pc.H, h = gl_WorkGroupID.y % pc.H;
    uint firstQuery = gl_WorkGroupID.x * ROW_BLOCK;
    uint query = firstQuery + gl_LocalInvocationID.x;
    bool rowInRange = query < T;
    uint lastQuery = min(T, firstQuery + ROW_BLOCK) - 1u;
    // Keys any row of this workgroup may see; uniform over the group, so barriers stay in uniform flow.
    uint keyEnd = pc.causal != 0u ? lastQuery + 1u : T;
    // How many keys this row sees: rows past T see none.
    uint rowKeyEnd = !rowInRange ? 0u : (pc.causal != 0u ? query + 1u : T);

    float q[HEAD_DIM];
    float acc[HEAD_DIM];
    uint qAt = qkv_index(b, min(query, T - 1u), 0u, h);
    [[unroll]] for (uint d = 0; d < HEAD_DIM; d++) {
        q[d] = qkv[qAt + d] * SCALE;
        acc[d] = 0.0;
    }
    float m = NO_MAXIMUM, l = 0.0;

    for (uint keyStart = 0; keyStart < keyEnd; keyStart += STAGE_BLOCK) {
        if (STAGE_IN_SHARED) {
            barrier();  // every row is done with the previous block
            for (uint e = gl_LocalInvocationID.x; e < STAGE_BLOCK * HEAD_DIM; e += ROW_BLOCK) {
                uint key = keyStart + e / HEAD_DIM, d = e % HEAD_DIM;
                bool present = key < keyEnd;
                keys[e] = present ? qkv[qkv_index(b, key, 1u, h) + d] : 0.0;
                values[e] = present ? qkv[qkv_index(b, key, 2u, h) + d] : 0.0;
            }
            barrier();
        }
        uint keyAt = qkv_index(b, keyStart, 1u, h), valueAt = keyAt + pc.H * HEAD_DIM, stride = qkv_token_stride();
        // Uniform loop bound and no divergent branch around the shared-memory reads: lavapipe then turns
        // them into one broadcast load each instead of a per-lane gather (it only does so where lane 0 is
        // known to be active). Keys a row may not see are masked arithmetically (p = 0, max untouched).
        uint blockKeys = min(STAGE_BLOCK, keyEnd - keyStart);
        uint visible = rowKeyEnd > keyStart ? min(blockKeys, rowKeyEnd - keyStart) : 0u;
        for (uint j = 0; j < blockKeys; j++) {
            // Eight independent partial sums: one dependent chain of HEAD_DIM fused multiply-adds would be
            // bound by FMA latency, not throughput (8x slower on a CPU SIMD unit, also slow on GPUs).
            vec4 low = vec4(0.0), high = vec4(0.0);
            [[unroll]] for (uint d = 0; d < HEAD_DIM; d += 8u) {
                low += vec4(q[d], q[d + 1u], q[d + 2u], q[d + 3u])
                     * vec4(KEY(j, d), KEY(j, d + 1u), KEY(j, d + 2u), KEY(j, d + 3u));
                high += vec4(q[d + 4u], q[d + 5u], q[d + 6u], q[d + 7u])
                      * vec4(KEY(j, d + 4u), KEY(j, d + 5u), KEY(j, d + 6u), KEY(j, d + 7u));
            }
            vec4 pair = low + high;
            float dot = (pair.x + pair.y) + (pair.z + pair.w);
            bool seen = j < visible;
            float s = seen ? dot : NO_MAXIMUM;
            // Rescale only when the maximum grows: rare after the first keys.
            if (s > m) {
                float correction = exp(m - s);
                l *= correction;
                [[unroll]] for (uint d = 0; d < HEAD_DIM; d++) acc[d] *= correction;
                m = s;
            }
            float p = seen ? exp(s - m) : 0.0;
            l += p;
            [[unroll]] for (uint d = 0; d < HEAD_DIM; d++) acc[d] += p * VALUE(j, d);
        }
    }

    if (rowInRange) {
        uint outAt = row_index(pc.outBase, b, query, h);
        float inverse = 1.0 / l;
        [[unroll]] for (uint d = 0; d < HEAD_DIM; d++) o[outAt + d] = acc[d] * inverse;
        lse[lse_index(pc.lseBase, b, h, query)] = m + log(l);
    }
}
