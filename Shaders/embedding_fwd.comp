#version 450
// embedding_fwd: y[t, c] = table[tokens[t], c] for t < T, c < C (row-major). A token id >= V (the table's
// row count) is a caller bug the GPU cannot throw for: its row of y becomes NaN so the loss shows it.
// A table bigger than one binding is bound in runs of rows: a dispatch binds rows [R0, R0 + Rn) and writes
// only the tokens in that run (the run with R0 = 0 also writes the NaN rows).
// Bindings: 0 tokens (uint[T], read), 1 table rows R0.. (act_t[Rn, C], read), 2 y (act_t[T, C], written).
// Layout: lane x of the grid takes channel c = gl_GlobalInvocationID.x < C; workgroup row y takes tokens y,
// y + gl_NumWorkGroups.y, ... (no per-element division; tokens[t] is the same for the whole workgroup).
// Push: uint T, uint V, uint C, uint R0, uint Rn. Spec: 0 = workgroup size.
#include "grid_stride.glsl"
#include "act_storage.glsl"
layout(std430, set = 0, binding = 0) readonly buffer Tokens { uint tokens[]; };
layout(std430, set = 0, binding = 1) readonly buffer Table { act_t table[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Y { act_t y[]; };
layout(push_constant) uniform Push { uint T; uint V; uint C; uint firstRow; uint rowCount; } pc;

void main() {
    uint c = gl_GlobalInvocationID.x;
    if (c >= pc.C) return;
    for (uint t = gl_WorkGroupID.y; t < pc.T; t += gl_NumWorkGroups.y) {
        uint token = tokens[t];
        uint row = token - pc.firstRow;  // wraps around for tokens before this run
        if (token < pc.V && row < pc.rowCount) y[t * pc.C + c] = table[row * pc.C + c];
        else if (token >= pc.V && pc.firstRow == 0u) y[t * pc.C + c] = STORE_ACT(uintBitsToFloat(0x7FC00000u));
    }
}
