#version 450
// embedding_fwd: y[t, c] = table[tokens[t], c] for t < T, c < C (row-major). A token id >= V (the table's
// row count) is a caller bug the GPU cannot throw for: its row of y becomes NaN so the loss shows it.
// Bindings: 0 tokens (uint[T], read), 1 table (act_t[V, C], read), 2 y (act_t[T, C], written).
// Layout: lane x of the grid takes channel c = gl_GlobalInvocationID.x < C; workgroup row y takes tokens y,
// y + gl_NumWorkGroups.y, ... (no per-element division; tokens[t] is the same for the whole workgroup).
// Push: uint T, uint V, uint C. Spec: 0 = workgroup size.
#include "grid_stride.glsl"
#include "act_storage.glsl"
layout(std430, set = 0, binding = 0) readonly buffer Tokens { uint tokens[]; };
layout(std430, set = 0, binding = 1) readonly buffer Table { act_t table[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Y { act_t y[]; };
layout(push_constant) uniform Push { uint T; uint V; uint C; } pc;

void main() {
    uint c = gl_GlobalInvocationID.x;
    if (c >= pc.C) return;
    for (uint t = gl_WorkGroupID.y; t < pc.T; t += gl_NumWorkGroups.y) {
        uint token = tokens[t];
        y[t * pc.C + c] = token < pc.V ? table[token * pc.C + c] : STORE_ACT(uintBitsToFloat(0x7FC00000u));
    }
}
