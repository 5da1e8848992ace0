#version 450
// embedding_bwd: dTable[v, c] (+)= sum over t with tokens[t] == v of dy[t, c], deterministic without
// float atomics. Three kernels, recorded in order by EmbeddingKernels.Backward:
//   embedding_bwd_keys:   keys[i] = (tokens[i], i) for i < T; (0xFFFFFFFF, 0xFFFFFFFF) for T <= i < N,
//                         N = T rounded up to a power of two.
//   embedding_bwd_sort:   one compare-exchange step (k, j) of a bitonic sorting network over keys[N],
//                         ascending by (token, position); log2(N)(log2(N)+1)/2 steps sort it. Keys are
//                         unique, so the sorted order is a function of the tokens alone.
//   embedding_bwd_reduce: one workgroup per table row v (grid-stride): binary-search v's segment of the
//                         sorted keys, then each lane sums dy[t, c] over the segment in position order for
//                         its channels c, so every run adds the same numbers in the same order. Rows no
//                         token hits get 0 (overwrite) or stay as they are (accumulate).
// Token ids >= V sort after every row's segment and are ignored. A table bigger than one binding is reduced
// in runs of rows: a dispatch binds dTable rows [R0, R0 + Rn) only.
// Bindings: keys:   0 tokens (uint[T], read), 1 keys (uvec2[N], written).
//           sort:   0 keys (uvec2[N], read and written).
//           reduce: 0 keys (uvec2[N], read), 1 dy (act_t[T, C], read), 2 dTable rows R0.. (act_t[Rn, C],
//                   read if accumulating, written).
// Push: keys: uint T, uint N. sort: uint N/2 (pairs), uint k, uint j. reduce: uint T, uint R0, uint Rn,
//       uint C, uint N, uint accumulate.
// Spec: 0 = workgroup size.
//! variant embedding_bwd_keys -DSTAGE_KEYS=1
//! variant embedding_bwd_sort -DSTAGE_SORT=1
//! variant embedding_bwd_reduce -DSTAGE_REDUCE=1
#include "grid_stride.glsl"
#include "act_storage.glsl"

#if defined(STAGE_KEYS)
layout(std430, set = 0, binding = 0) readonly buffer Tokens { uint tokens[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Keys { uvec2 keys[]; };
layout(push_constant) uniform Push { uint T; uint N; } pc;

void main() {
    for (uint i = gl_GlobalInvocationID.x; i < pc.N; i += grid_stride_x())
        keys[i] = i < pc.T ? uvec2(tokens[i], i) : uvec2(0xFFFFFFFFu);
}

#elif defined(STAGE_SORT)
layout(std430, set = 0, binding = 0) buffer Keys { uvec2 keys[]; };
layout(push_constant) uniform Push { uint pairs; uint k; uint j; } pc;

bool key_less(uvec2 a, uvec2 b) { return a.x < b.x || (a.x == b.x && a.y < b.y); }

void main() {
    for (uint p = gl_GlobalInvocationID.x; p < pc.pairs; p += grid_stride_x()) {
        // Pair p compares element i with i + j, where i has bit j clear; blocks of size k alternate
        // direction so that every merge sees a bitonic sequence.
        uint low = p & (pc.j - 1u);
        uint i = ((p - low) << 1) + low;
        uint partner = i + pc.j;
        bool ascending = (i & pc.k) == 0u;
        uvec2 a = keys[i], b = keys[partner];
        if (key_less(b, a) == ascending) {
            keys[i] = b;
            keys[partner] = a;
        }
    }
}

#elif defined(STAGE_REDUCE)
layout(std430, set = 0, binding = 0) readonly buffer Keys { uvec2 keys[]; };
layout(std430, set = 0, binding = 1) readonly buffer DY { act_t dy[]; };
layout(std430, set = 0, binding = 2) buffer DTable { act_t dtable[]; };
layout(push_constant) uniform Push { uint T; uint firstRow; uint rowCount; uint C; uint N; uint accumulate; } pc;

// First sorted index whose token is >= v (keys[0 .. T) hold the real tokens in ascending order).
uint lower_bound(uint v) {
    uint low = 0u, high = pc.T;
    while (low < high) {
        uint middle = (low + high) >> 1;
        if (keys[middle].x < v) low = middle + 1u; else high = middle;
    }
    return low;
}

void main() {
    for (uint row = gl_WorkGroupID.x; row < pc.rowCount; row += gl_NumWorkGroups.x) {
        uint v = pc.firstRow + row;
        uint begin = lower_bound(v);
        uint end = lower_bound(v + 1u);
        for (uint c = gl_LocalInvocationID.x; c < pc.C; c += WORKGROUP_SIZE) {
            float sum = 0.0;
            for (uint s = begin; s < end; s++) sum += LOAD_ACT(dy[keys[s].y * pc.C + c]);
            uint at = row * pc.C + c;
            if (pc.accumulate != 0u) {
                if (end > begin) dtable[at] = STORE_ACT(LOAD_ACT(dtable[at]) + sum);
            } else {
                dtable[at] = STORE_ACT(sum);
            }
        }
    }
}
#endif
