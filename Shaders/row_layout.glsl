// Row kernels (one row of C values reduced to a scalar, then used across the row) share this layout.
// LANES_PER_ROW (specialization constant 1, a power of two dividing WORKGROUP_SIZE) lanes serve one row;
// a workgroup serves ROWS_PER_GROUP rows at a time and strides over the rest.
//   LANES_PER_ROW == 1 (CPU devices such as lavapipe): one invocation walks its whole row with a plain
//     loop; row_reduce returns the lane's own sum, no shared memory and no barrier (both are costly on
//     a CPU, where a workgroup runs as a loop over SIMD lanes).
//   LANES_PER_ROW > 1 (GPUs): the row's lanes take strided channels, then a shared-memory tree adds the
//     lane partials. Every workgroup-wide barrier is reached by all lanes (row_reduce is called in
//     uniform control flow), and the tree does not depend on the subgroup size.
// Either way each sum has a fixed order, so reruns are bit-identical.
#include "common.glsl"
layout(constant_id = 0) const uint WORKGROUP_SIZE = 128;
layout(constant_id = 1) const uint LANES_PER_ROW = 128;
layout(local_size_x_id = 0) in;
const uint ROWS_PER_GROUP = WORKGROUP_SIZE / LANES_PER_ROW;

shared float row_sums[WORKGROUP_SIZE];

uint row_lane() { return gl_LocalInvocationID.x & (LANES_PER_ROW - 1u); }
uint row_slot() { return gl_LocalInvocationID.x / LANES_PER_ROW; }
uint first_row_of_group() { return gl_WorkGroupID.x * ROWS_PER_GROUP; }
uint row_group_stride() { return gl_NumWorkGroups.x * ROWS_PER_GROUP; }

// The sum of `partial` over the LANES_PER_ROW lanes of this lane's row, seen by each of them.
float row_reduce(float partial) {
    if (LANES_PER_ROW == 1u) return partial;
    uint id = gl_LocalInvocationID.x;
    uint lane = row_lane();
    row_sums[id] = partial;
    barrier();
    for (uint width = LANES_PER_ROW / 2u; width > 0u; width /= 2u) {
        if (lane < width) row_sums[id] += row_sums[id + width];
        barrier();
    }
    float total = row_sums[id - lane];
    // Every lane has read its total before the next row's first write to row_sums.
    barrier();
    return total;
}
