#version 450
// embedding_fwd: y[t, c] = table[tokens[t], c] for t < T, c < C (row-major). A token id >= V (the table's
// row count) is a caller bug the GPU cannot throw for: its row of y becomes NaN so the loss shows it.
// Bindings: 0 tokens (uint[T], read), 1 table (act_t[V, C], read), 2 y (act_t[T, C], written).
// Push: uint T, uint V, uint C. Spec: 0 = workgroup size.
#include "grid_stride.glsl"
#include "act_storage.glsl"
layout(std430, set = 0, binding = 0) readonly buffer Tokens { uint tokens[]; };
layout(std430, set = 0, binding = 1) readonly buffer Table { act_t table[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Y { act_t y[]; };
layout(push_constant) uniform Push { uint T; uint V; uint C; } pc;

void main() {
    uint count = pc.T * pc.C;
    for (uint i = gl_GlobalInvocationID.x; i < count; i += grid_stride_x()) {
        uint t = i / pc.C;
        uint c = i - t * pc.C;
        uint token = tokens[t];
        y[i] = token < pc.V ? table[token * pc.C + c] : STORE_ACT(uintBitsToFloat(0x7FC00000u));
    }
}
