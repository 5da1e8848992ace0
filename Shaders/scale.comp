#version 450
// scale: y[i] = factor * x[i] for i < count. y may alias x.
// Bindings: 0 x (read), 1 y (written). Push: uint count, float factor. Spec: 0 = workgroup size.
#include "grid_stride.glsl"
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Push { uint count; float factor; } pc;

void main() {
    for (uint i = gl_GlobalInvocationID.x; i < pc.count; i += grid_stride_x()) y[i] = pc.factor * x[i];
}
