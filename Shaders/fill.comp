#version 450
// fill: y[i] = value for i < count.
// Bindings: 0 y (float, written). Push: uint count, float value. Spec: 0 = workgroup size.
#include "grid_stride.glsl"
layout(std430, set = 0, binding = 0) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Push { uint count; float value; } pc;

void main() {
    for (uint i = gl_GlobalInvocationID.x; i < pc.count; i += grid_stride_x()) y[i] = pc.value;
}
