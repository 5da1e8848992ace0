#version 450
// philox_blocks: raw Philox4x32-10 output, for known-answer tests and any kernel-independent use.
// Block i (i < count) is philox4x32_10(counter = (counter0 + i, counter1, counter2, counter3), key)
// and lands in words[4i .. 4i+3] (x, y, z, w).
// Bindings: 0 words (uint, written, 4 * count). Push: uint count, uvec4 counter, uvec2 key.
// Spec: 0 = workgroup size.
#include "grid_stride.glsl"
#include "philox.glsl"
layout(std430, set = 0, binding = 0) writeonly buffer Words { uvec4 words[]; };
layout(push_constant) uniform Push { uint count; uint counter0; uint counter1; uint counter2; uint counter3; uint key0; uint key1; } pc;

void main() {
    for (uint i = gl_GlobalInvocationID.x; i < pc.count; i += grid_stride_x())
        words[i] = philox4x32_10(uvec4(pc.counter0 + i, pc.counter1, pc.counter2, pc.counter3), uvec2(pc.key0, pc.key1));
}
