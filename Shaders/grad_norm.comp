#version 450
// Global gradient norm with the clip scale, in one deterministic reduction tree over many tensors.
// grad_norm_partial: for one gradient tensor g of `count` floats, workgroup w of G writes
//   partials[w] = sum of g[i]^2 over the elements it visits (grid-stride), and workgroup 0 also
//   zeroes partials[G .. SLOTS): each tensor owns a fixed block of SLOTS partials.
//   Bindings: 0 g (read), 1 partials (write, SLOTS floats). Push: uint count.
// grad_norm_final: one workgroup sums all `count` partials (every block of every tensor), then, with the
//   gradients computed under a loss scale of 2^e (fp16 mixed precision; e = 0 otherwise) and clip_norm and e from
//   the step-scalar block,
//   norm_and_scale[0] = norm = sqrt(sum) * 2^-e                (the norm of the unscaled gradients)
//   norm_and_scale[1] = ((clip_norm > 0 && norm > clip_norm) ? clip_norm / (norm + 1e-6) : 1) * 2^-e
//   so AdamW's gradient factor both unscales and clips (2^-e is exact: the result equals unscaled arithmetic).
//   A non-finite norm (an overflowed fp16 gradient) stays non-finite: AdamW then skips the step.
//   Bindings: 0 partials (read), 1 step scalars (read), 2 norm_and_scale (write, 2 floats). Push: uint count.
// Spec: 0 = workgroup size (a power of two <= 1024), 1 = SLOTS (partials per tensor, partial variant).
// Sums are fp32; the grid, the blocks and the tree depend only on the sizes, so reruns are bit-identical.
//! variant grad_norm_partial -DFINAL_PASS=0
//! variant grad_norm_final -DFINAL_PASS=1
#include "grid_stride.glsl"
layout(constant_id = 1) const uint SLOTS = 256;
layout(push_constant) uniform Push { uint count; } pc;

#if FINAL_PASS
#define STEP_SCALARS_BINDING 1
#include "step_scalars.glsl"
layout(std430, set = 0, binding = 0) readonly buffer Partials { float partials[]; };
layout(std430, set = 0, binding = 2) writeonly buffer NormAndScale { float norm_and_scale[2]; };
#else
layout(std430, set = 0, binding = 0) readonly buffer Gradient { float gradient[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Partials { float partials[]; };
#endif

shared float sums[WORKGROUP_SIZE];

float workgroup_sum(float value) {
    uint lane = gl_LocalInvocationID.x;
    sums[lane] = value;
    barrier();
    for (uint width = WORKGROUP_SIZE / 2; width > 0; width /= 2) {
        if (lane < width) sums[lane] += sums[lane + width];
        barrier();
    }
    return sums[0];
}

void main() {
    uint lane = gl_LocalInvocationID.x;
#if FINAL_PASS
    float sum = 0.0;
    for (uint i = lane; i < pc.count; i += WORKGROUP_SIZE) sum += partials[i];
    float total = workgroup_sum(sum);
    if (lane == 0) {
        int exponent = -step_scalars.loss_scale_exponent;
        float norm = ldexp(sqrt(total), exponent);
        float clip = step_scalars.clip_norm;
        norm_and_scale[0] = norm;
        norm_and_scale[1] = ldexp((clip > 0.0 && norm > clip) ? clip / (norm + 1e-6) : 1.0, exponent);
    }
#else
    float sum = 0.0;
    for (uint i = gl_GlobalInvocationID.x; i < pc.count; i += grid_stride_x()) {
        float g = gradient[i];
        sum += g * g;
    }
    float total = workgroup_sum(sum);
    if (lane == 0) partials[gl_WorkGroupID.x] = total;
    if (gl_WorkGroupID.x == 0)
        for (uint slot = gl_NumWorkGroups.x + lane; slot < SLOTS; slot += WORKGROUP_SIZE) partials[slot] = 0.0;
#endif
}
