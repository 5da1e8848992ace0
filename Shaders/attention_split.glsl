// Shared by the split-row fused attention kernels (attention_fwd_split, attention_bwd_split, attention_bwd_dq_split): the
// same computations, layouts, bindings, push constants and grid as attention_fwd / attention_bwd / attention_bwd_dq
// (attention_common.glsl), with each row's head dim split across a cluster of LANES consecutive invocations.
//
// Why: the one-row-per-invocation kernels keep three or four HEAD_DIM-long vectors per invocation, which at head dim 64
// and 128 is more than a GPU lane's registers (AMD's compiler spills them to scratch, docs/amd.md). Split LANES ways,
// each invocation holds HEAD_DIM / LANES elements of each vector (16: four vec4 chunks), and a dot product is the
// cluster's partial sums added together with subgroup shuffles.
//
// Work split: invocation x of the workgroup is lane x % LANES of row x / LANES, so a workgroup of ROW_BLOCK invocations
// owns ROW_BLOCK / LANES rows. The host takes these kernels only where every subgroup the device may run holds whole
// clusters (AttentionBlocks.SplitSupport): subgroups of at least LANES invocations, which (as on every implementation)
// are runs of consecutive invocations starting at a multiple of the subgroup size, so a cluster's lanes are subgroup
// invocations LANES * k .. LANES * k + LANES - 1 and a shuffle-xor by less than LANES stays inside the cluster. Lane l
// holds chunk c = elements 4 * (c * LANES + l) .. +3 of each of its row's vectors: the cluster reads a row's consecutive
// vec4s side by side (coalesced loads, conflict-free shared-memory reads).
// The other operand is always staged in shared memory as vec4s (STAGE_IN_SHARED is ignored): these are GPU kernels.
// Online-softmax state and every reduced value are identical on the cluster's lanes (the butterfly adds the same pairs
// on every lane, and IEEE addition commutes), so the lanes take the same branches.
#extension GL_KHR_shader_subgroup_shuffle : require

#ifndef LANES
#error LANES must be defined by the variant (invocations per row)
#endif
// One row per cluster: ROWS only sizes the unsplit kernels' register blocking.
#define ROWS 1
#include "attention_common.glsl"

// vec4 chunks of a row each lane holds, and vec4s in a whole row.
const uint CHUNKS = HEAD_DIM / (4u * LANES);
const uint ROW_VEC4S = HEAD_DIM / 4u;

// This invocation's lane in its row's cluster and its row's place among the workgroup's rows.
uint split_lane() { return gl_LocalInvocationID.x % LANES; }
uint split_row() { return gl_LocalInvocationID.x / LANES; }
// Rows one workgroup owns (AttentionBlocks.RowsPerGroup).
uint split_rows_per_group() { return ROW_BLOCK / LANES; }

// Element offset, within a row, of chunk c of this lane.
uint chunk_offset(uint c) { return 4u * (c * LANES + split_lane()); }

// The sum of x over the cluster, on every lane of it: a shuffle-xor butterfly.
float cluster_sum(float x) {
    [[unroll]] for (uint mask = 1u; mask < LANES; mask *= 2u) x += subgroupShuffleXor(x, mask);
    return x;
}

vec2 cluster_sum(vec2 x) {
    [[unroll]] for (uint mask = 1u; mask < LANES; mask *= 2u) x += subgroupShuffleXor(x, mask);
    return x;
}

// Adds the four lanes of a partial dot product in a fixed order.
float horizontal_sum(vec4 partial) { return (partial.x + partial.y) + (partial.z + partial.w); }

// Stages rows first..first+STAGE_BLOCK-1 of a [.., ROW_VEC4S] operand into shared vec4s with the whole workgroup: row r of
// the block from rowAt(first + r), zero past `end`. A macro, as GLSL cannot pass shared arrays.
#define STAGE_ROWS(SHARED, FIRST, END, ROW_AT, READ4) \
    for (uint e = gl_LocalInvocationID.x; e < STAGE_BLOCK * ROW_VEC4S; e += ROW_BLOCK) { \
        uint stagedRow = (FIRST) + e / ROW_VEC4S; \
        SHARED[e] = stagedRow < (END) ? READ4(ROW_AT(stagedRow) + 4u * (e % ROW_VEC4S)) : vec4(0.0); \
    }
