#version 450
// copy: y[i] = x[i] for i < count (32-bit words; copies any 4-byte type).
// Bindings: 0 x (read), 1 y (written). Push: uint count. Spec: 0 = workgroup size.
#include "grid_stride.glsl"
layout(std430, set = 0, binding = 0) readonly buffer X { uint x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Y { uint y[]; };
layout(push_constant) uniform Push { uint count; } pc;

void main() {
    for (uint i = gl_GlobalInvocationID.x; i < pc.count; i += grid_stride_x()) y[i] = x[i];
}
