#version 450
// peak_copy: a bandwidth probe for the roofline: y[i] = x[i] over vec4 elements, grid-stride.
// Bytes moved = 2 * 16 * count. Bindings: 0 x (vec4, read), 1 y (vec4, written).
// Push: uint count (vec4 elements). Spec: 0 = workgroup size.
#include "grid_stride.glsl"
layout(std430, set = 0, binding = 0) readonly buffer X { vec4 x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Y { vec4 y[]; };
layout(push_constant) uniform Push { uint count; } pc;

void main() {
    for (uint i = gl_GlobalInvocationID.x; i < pc.count; i += grid_stride_x()) y[i] = x[i];
}
