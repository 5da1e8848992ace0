#version 450
// rmsnorm_fwd: per row r < R of x[R, C]: rstd[r] = 1 / sqrt(mean_c x[r, c]^2 + 1e-5),
// y[r, c] = x[r, c] * rstd[r] * weight[c]. One workgroup per row (grid-stride over rows); the sum of
// squares is reduced in a fixed order (lane partials, then a shared-memory tree), so results are
// bit-identical run to run. rstd is kept for the backward.
// Bindings: 0 x (act_t[R, C], read), 1 weight (float[C], read), 2 y (act_t[R, C], written),
//           3 rstd (float[R], written).
// Push: uint R, uint C. Spec: 0 = workgroup size (a power of two, <= 1024).
#include "common.glsl"
#include "act_storage.glsl"
layout(constant_id = 0) const uint WORKGROUP_SIZE = 128;
layout(local_size_x_id = 0) in;
layout(std430, set = 0, binding = 0) readonly buffer X { act_t x[]; };
layout(std430, set = 0, binding = 1) readonly buffer W { float weight[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Y { act_t y[]; };
layout(std430, set = 0, binding = 3) writeonly buffer Rstd { float rstd[]; };
layout(push_constant) uniform Push { uint R; uint C; } pc;

shared float sums[WORKGROUP_SIZE];

void main() {
    uint lane = gl_LocalInvocationID.x;
    for (uint r = gl_WorkGroupID.x; r < pc.R; r += gl_NumWorkGroups.x) {
        uint base = r * pc.C;
        float sum = 0.0;
        for (uint c = lane; c < pc.C; c += WORKGROUP_SIZE) {
            float value = LOAD_ACT(x[base + c]);
            sum += value * value;
        }
        sums[lane] = sum;
        barrier();
        for (uint width = WORKGROUP_SIZE / 2; width > 0; width /= 2) {
            if (lane < width) sums[lane] += sums[lane + width];
            barrier();
        }
        float inverse = inversesqrt(sums[0] / float(pc.C) + 1e-5);
        // Every lane has read sums[0] before the next row's first write to it.
        barrier();
        if (lane == 0) rstd[r] = inverse;
        for (uint c = lane; c < pc.C; c += WORKGROUP_SIZE)
            y[base + c] = STORE_ACT(LOAD_ACT(x[base + c]) * inverse * weight[c]);
    }
}
