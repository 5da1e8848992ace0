#version 450
// peak_fma: an FMA-bound probe for the roofline. Each invocation runs `iterations` rounds of 16
// independent vec4 multiply-adds (8 flops per vec4 per round: 128 flops per round) on values seeded
// from its index, then writes one float so the work cannot be optimised away.
// FLOPs = invocations * iterations * 128. Bindings: 0 y (float per invocation, written).
// Push: uint iterations. Spec: 0 = workgroup size.
#include "grid_stride.glsl"
layout(std430, set = 0, binding = 0) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Push { uint iterations; } pc;

void main() {
    float seed = float(gl_GlobalInvocationID.x) * 1e-7;
    vec4 acc[16];
    [[unroll]] for (uint c = 0u; c < 16u; c++) acc[c] = vec4(seed + float(c), seed, -seed, 0.5);
    // x * 0.999 + 1e-4 keeps every value bounded (fixed point near 0.1), so no overflow or denormals.
    vec4 scale = vec4(0.999), bias = vec4(1e-4);
    for (uint i = 0u; i < pc.iterations; i++)
        [[unroll]] for (uint c = 0u; c < 16u; c++) acc[c] = fma(acc[c], scale, bias);
    vec4 total = vec4(0.0);
    [[unroll]] for (uint c = 0u; c < 16u; c++) total += acc[c];
    y[gl_GlobalInvocationID.x] = total.x + total.y + total.z + total.w;
}
