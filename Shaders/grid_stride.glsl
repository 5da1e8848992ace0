// One-dimensional kernels: WORKGROUP_SIZE invocations per group (specialization constant 0), and a
// grid-stride loop, since dispatches are capped at 65535 groups and large counts are walked in strides.
#include "common.glsl"
layout(constant_id = 0) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = 0) in;

uint grid_stride_x() { return gl_NumWorkGroups.x * WORKGROUP_SIZE; }
