#version 450
// dropout: y[i] = keep_i ? x[i] * scale : 0 for i < count, keep_i = (u_i >= probability), scale =
// 1 / (1 - probability) computed by the host. u_i is the Philox uniform of element i, row 0, stream
// `stream` (one id per dropout site, >= 16), keyed by the seed and random step of the StepScalars buffer
// (layout in philox.glsl). The backward is the same kernel on (dy, dx): the recorded step scalars are the
// same within a step, so it redraws the forward's mask exactly. One lane serves four elements (one block).
// A tensor bigger than one binding goes in runs: a dispatch binds elements [4 B0, 4 B0 + count) and draws
// blocks B0 onwards, so every element keeps its own uniform.
// Bindings: 0 step scalars (read), 1 x (act_t[count], read), 2 y (act_t[count], written).
// Push: uint count, float probability, float scale, uint stream, uint B0. Spec: 0 = workgroup size.
#include "grid_stride.glsl"
#include "act_storage.glsl"
#include "philox.glsl"
#define STEP_SCALARS_BINDING 0
#include "step_scalars.glsl"
layout(std430, set = 0, binding = 1) readonly buffer X { act_t x[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Y { act_t y[]; };
layout(push_constant) uniform Push { uint count; float probability; float scale; uint stream; uint first_block; } pc;

void main() {
    uvec2 key = uvec2(step_scalars.seed_lo, step_scalars.seed_hi);
    uint group_count = (pc.count + 3u) / 4u;
    for (uint group = gl_GlobalInvocationID.x; group < group_count; group += grid_stride_x()) {
        vec4 u = philox_uniform4(key, pc.first_block + group, 0u, step_scalars.random_step, pc.stream);
        [[unroll]] for (uint word = 0u; word < 4u; word++) {
            uint i = 4u * group + word;
            if (i < pc.count) y[i] = STORE_ACT(u[word] >= pc.probability ? LOAD_ACT(x[i]) * pc.scale : 0.0);
        }
    }
}
