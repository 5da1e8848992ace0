#version 450
// mdm_corrupt: the masked-diffusion forward process on tokens[B, L] (PAPER section 2), keyed by the seed
// and random step of the StepScalars buffer (counter layout in philox.glsl):
//   t_b = uniform(index b, row 0, stream 1);  p_b = (1 - eps) * t_b + eps (fp32, no fused multiply-add)
//   masked[b, i] = uniform(index i, row b, stream 0) < p_b
//   corrupted[b, i] = masked ? mask_id : tokens[b, i];  weights[b, i] = masked ? 1 / p_b : 0;  t[b] = t_b.
// One lane serves four consecutive tokens of one sequence (one Philox block). CorruptionReference
// (Runtime/Reference) draws the same bits on the CPU.
// Bindings: 0 step scalars (read), 1 tokens (uint[B, L], read), 2 corrupted (uint[B, L], written),
//           3 weights (float[B, L], written), 4 t (float[B], written).
// Push: uint B, uint L, uint mask_id, float one_minus_eps (1 - eps rounded by the host), float eps.
// Spec: 0 = workgroup size.
#include "grid_stride.glsl"
#include "philox.glsl"
#define STEP_SCALARS_BINDING 0
#include "step_scalars.glsl"
layout(std430, set = 0, binding = 1) readonly buffer Tokens { uint tokens[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Corrupted { uint corrupted[]; };
layout(std430, set = 0, binding = 3) writeonly buffer Weights { float weights[]; };
layout(std430, set = 0, binding = 4) writeonly buffer TValues { float t_values[]; };
layout(push_constant) uniform Push { uint B; uint L; uint mask_id; float one_minus_eps; float eps; } pc;

void main() {
    uvec2 key = uvec2(step_scalars.seed_lo, step_scalars.seed_hi);
    uint step = step_scalars.random_step;
    uint groups_per_sequence = (pc.L + 3u) / 4u;
    uint count = pc.B * groups_per_sequence;
    for (uint index = gl_GlobalInvocationID.x; index < count; index += grid_stride_x()) {
        uint b = index / groups_per_sequence;
        uint group = index - b * groups_per_sequence;
        float t = philox_uniform(key, b, 0u, step, PHILOX_STREAM_CORRUPTION_TIME);
        // `precise`: a fused multiply-add would round differently from the CPU reference and flip masks.
        precise float p = pc.one_minus_eps * t + pc.eps;
        float weight = 1.0 / p;
        if (group == 0u) t_values[b] = t;
        vec4 u = philox_uniform4(key, group, b, step, PHILOX_STREAM_CORRUPTION_MASK);
        [[unroll]] for (uint word = 0u; word < 4u; word++) {
            uint i = 4u * group + word;
            if (i >= pc.L) break;
            uint at = b * pc.L + i;
            bool masked = u[word] < p;
            corrupted[at] = masked ? pc.mask_id : tokens[at];
            weights[at] = masked ? weight : 0.0;
        }
    }
}
