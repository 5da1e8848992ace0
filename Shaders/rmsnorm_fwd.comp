#version 450
// rmsnorm_fwd: per row r < R of x[R, C]: rstd[r] = 1 / sqrt(mean_c x[r, c]^2 + 1e-5),
// y[r, c] = x[r, c] * rstd[r] * weight[c]. Rows are laid out on lanes as row_layout.glsl says (a whole
// row per invocation on CPU devices, LANES_PER_ROW lanes and a shared-memory tree on GPUs); the sum of
// squares has a fixed order, so results are bit-identical run to run. rstd is kept for the backward.
// Bindings: 0 x (act_t[R, C], read), 1 weight (float[C], read), 2 y (act_t[R, C], written),
//           3 rstd (float[R], written).
// Push: uint R, uint C. Spec: 0 = workgroup size, 1 = lanes per row (powers of two, lanes <= size <= 1024).
#include "row_layout.glsl"
#include "act_storage.glsl"
layout(std430, set = 0, binding = 0) readonly buffer X { act_t x[]; };
layout(std430, set = 0, binding = 1) readonly buffer W { float weight[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Y { act_t y[]; };
layout(std430, set = 0, binding = 3) writeonly buffer Rstd { float rstd[]; };
layout(push_constant) uniform Push { uint R; uint C; } pc;

void main() {
    uint lane = row_lane();
    for (uint first = first_row_of_group(); first < pc.R; first += row_group_stride()) {
        uint r = first + row_slot();
        bool row_valid = r < pc.R;
        uint base = r * pc.C;
        float sum = 0.0;
        if (row_valid)
            for (uint c = lane; c < pc.C; c += LANES_PER_ROW) {
                float value = LOAD_ACT(x[base + c]);
                sum += value * value;
            }
        float inverse = inversesqrt(row_reduce(sum) / float(pc.C) + 1e-5);
        if (row_valid) {
            if (lane == 0u) rstd[r] = inverse;
            for (uint c = lane; c < pc.C; c += LANES_PER_ROW)
                y[base + c] = STORE_ACT(LOAD_ACT(x[base + c]) * inverse * weight[c]);
        }
    }
}
