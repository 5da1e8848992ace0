#version 450
// reduce_sum: partial[g] = sum of x[i] over the elements workgroup g visits (grid-stride), fp32.
// Run once with G groups to get G partial sums, then once with one group over the partials to get
// the total; the order of additions is fixed, so the result is bit-identical run to run.
// Bindings: 0 x (read), 1 partial (written, one float per workgroup).
// Push: uint count. Spec: 0 = workgroup size (a power of two, <= 1024).
#include "grid_stride.glsl"
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Partial { float partial[]; };
layout(push_constant) uniform Push { uint count; } pc;

shared float sums[WORKGROUP_SIZE];

void main() {
    float sum = 0.0;
    for (uint i = gl_GlobalInvocationID.x; i < pc.count; i += grid_stride_x()) sum += x[i];
    uint lane = gl_LocalInvocationID.x;
    sums[lane] = sum;
    barrier();
    for (uint width = WORKGROUP_SIZE / 2; width > 0; width /= 2) {
        if (lane < width) sums[lane] += sums[lane + width];
        barrier();
    }
    if (lane == 0) partial[gl_WorkGroupID.x] = sums[0];
}
