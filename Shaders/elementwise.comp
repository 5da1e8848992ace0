#version 450
// Elementwise binary ops on fp32: add: y = a + b; mul: y = a * b (i < count). y may alias a or b.
// Bindings: 0 a (read), 1 b (read), 2 y (written). Push: uint count. Spec: 0 = workgroup size.
//! variant add -DOP_MUL=0
//! variant mul -DOP_MUL=1
#include "grid_stride.glsl"
layout(std430, set = 0, binding = 0) readonly buffer A { float a[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { float b[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Push { uint count; } pc;

void main() {
    for (uint i = gl_GlobalInvocationID.x; i < pc.count; i += grid_stride_x()) {
#if OP_MUL
        y[i] = a[i] * b[i];
#else
        y[i] = a[i] + b[i];
#endif
    }
}
