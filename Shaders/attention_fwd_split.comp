#version 450
// attention_fwd_split: the fused attention forward of attention_fwd (same result, layouts, bindings, push constants and
// grid), with each query row's head dim split across a cluster of LANES invocations (attention_split.glsl), so a GPU
// lane holds HEAD_DIM / LANES elements of q and of the output accumulator instead of whole rows.
//   O[b,i,h,:] = sum_j softmax_j(Q_i . K_j / sqrt(HEAD_DIM)) V_j   (causal: j <= i)
//   LSE[b,h,i] = log sum_j exp(Q_i . K_j / sqrt(HEAD_DIM))
// Per key: each lane's partial q.k over its chunks, summed over the cluster (every lane gets the same score), then the
// online softmax as in attention_fwd (running max m, running sum l, both the same on every lane of the row) and each lane
// accumulates p * V over its own chunks. The workgroup stages STAGE_BLOCK keys and values in shared memory per step.
// Causal: key blocks past the workgroup's last query are never loaded; keys after a row's own position get probability
// exactly 0. fp32 arithmetic; deterministic. The _f16 / _bf16 variants read 16-bit qkv (see attention_fwd).
// Bindings: 0 qkv (read; texels at binding 8 when TEXEL_MODE != 0), 1 O (written), 2 LSE (written).
// Spec: 0 = ROW_BLOCK (invocations per workgroup: ROW_BLOCK / LANES rows), 1 = STAGE_BLOCK (keys per step),
// 2 = unused (always staged), 3 = TEXEL_MODE. Shared memory: 2 * STAGE_BLOCK * HEAD_DIM floats.
//! variant attention_fwd_d64_split -DHEAD_DIM=64 -DLANES=4
//! variant attention_fwd_d128_split -DHEAD_DIM=128 -DLANES=8
//! variant attention_fwd_d64_split_f16 -DHEAD_DIM=64 -DLANES=4 -DACT_F16=1
//! variant attention_fwd_d128_split_f16 -DHEAD_DIM=128 -DLANES=8 -DACT_F16=1
//! variant attention_fwd_d64_split_bf16 -DHEAD_DIM=64 -DLANES=4 -DACT_BF16=1
//! variant attention_fwd_d128_split_bf16 -DHEAD_DIM=128 -DLANES=8 -DACT_BF16=1
#include "attention_split.glsl"

layout(std430, set = 0, binding = 1) writeonly buffer Out { float o[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Lse { float lse[]; };

shared vec4 keys[STAGE_BLOCK * ROW_VEC4S];
shared vec4 values[STAGE_BLOCK * ROW_VEC4S];

void main() {
    uint T = pc.T;
    uint b = gl_WorkGroupID.y / pc.H, h = gl_WorkGroupID.y % pc.H;
    uint firstQuery = gl_WorkGroupID.x * split_rows_per_group();
    uint lastQuery = min(T, firstQuery + split_rows_per_group()) - 1u;
    // Keys any row of this workgroup may see; uniform over the group, so barriers stay in uniform flow.
    uint keyEnd = pc.causal != 0u ? lastQuery + 1u : T;
    uint query = firstQuery + split_row(), lane = split_lane();
    uint rowKeyEnd = query >= T ? 0u : (pc.causal != 0u ? query + 1u : T);  // rows past T see no key

    vec4 q[CHUNKS], acc[CHUNKS];
    uint qAt = qkv_index(b, min(query, T - 1u), 0u, h);
    [[unroll]] for (uint c = 0; c < CHUNKS; c++) {
        q[c] = qkv4_at(qAt + chunk_offset(c)) * SCALE;
        acc[c] = vec4(0.0);
    }
    float m = NO_MAXIMUM, l = 0.0;

#define KEY_ROW(key) qkv_index(b, key, 1u, h)
#define VALUE_ROW(key) qkv_index(b, key, 2u, h)
    for (uint keyStart = 0; keyStart < keyEnd; keyStart += STAGE_BLOCK) {
        barrier();  // every row is done with the previous block
        STAGE_ROWS(keys, keyStart, keyEnd, KEY_ROW, qkv4_at)
        STAGE_ROWS(values, keyStart, keyEnd, VALUE_ROW, qkv4_at)
        barrier();
        // Uniform loop bound (the shuffles need the whole cluster); keys a row may not see are masked arithmetically.
        uint blockKeys = min(STAGE_BLOCK, keyEnd - keyStart);
        for (uint j = 0; j < blockKeys; j++) {
            vec4 partial = vec4(0.0);
            [[unroll]] for (uint c = 0; c < CHUNKS; c++) partial += q[c] * keys[j * ROW_VEC4S + c * LANES + lane];
            float score = cluster_sum(horizontal_sum(partial));
            bool seen = keyStart + j < rowKeyEnd;
            float s = seen ? score : NO_MAXIMUM;
            // Rescale only when the maximum grows: rare after the first keys.
            if (s > m) {
                float correction = exp(m - s);
                l *= correction;
                [[unroll]] for (uint c = 0; c < CHUNKS; c++) acc[c] *= correction;
                m = s;
            }
            float p = seen ? exp(s - m) : 0.0;
            l += p;
            [[unroll]] for (uint c = 0; c < CHUNKS; c++) acc[c] += p * values[j * ROW_VEC4S + c * LANES + lane];
        }
    }

    if (query < T) {
        uint outAt = row_index(pc.outBase, b, query, h);
        float inverse = 1.0 / l;
        [[unroll]] for (uint c = 0; c < CHUNKS; c++) {
            vec4 out4 = acc[c] * inverse;
            uint at = outAt + chunk_offset(c);
            o[at] = out4.x; o[at + 1u] = out4.y; o[at + 2u] = out4.z; o[at + 3u] = out4.w;
        }
        if (lane == 0u) lse[lse_index(pc.lseBase, b, h, query)] = m + log(l);
    }
}
