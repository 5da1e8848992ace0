#version 450
// rmsnorm_bwd: gradients of y = x * rstd * w (rmsnorm_fwd) for x[R, C], w[C], given dy and the saved rstd.
//   rmsnorm_bwd_dx: per row r: dot = sum_c w[c] dy[r, c] x[r, c] (fixed order; rows laid out on lanes as
//                   row_layout.glsl says), then dx[r, c] (+)= rstd[r] * w[c] * dy[r, c] - rstd[r]^3 / C * x[r, c] * dot.
//   rmsnorm_bwd_dw_partial: rows are split into B fixed blocks of S rows (B = gl_NumWorkGroups.y, chosen
//                   from the shape alone by RmsNormKernels); partial[b, c] = sum over the block's rows, in
//                   row order, of dy[r, c] * x[r, c] * rstd[r]. One lane per channel.
//   rmsnorm_bwd_dw_final: dWeight[c] (+)= sum over b in order of partial[b, c].
// No float atomics: every sum has a fixed order, so results are bit-identical run to run.
// Bindings: dx: 0 x, 1 weight, 2 rstd, 3 dy, 4 dx (read if accumulating, written).
//           dw_partial: 0 x, 1 rstd, 2 dy, 3 partial (float[B, C], written).
//           dw_final: 0 partial (read), 1 dWeight (float[C], read if accumulating, written).
//   (x, dy, dx: act_t[R, C]; weight: float[C]; rstd: float[R].)
// Push: dx: uint R, uint C, uint accumulate. dw_partial: uint R, uint C, uint S (rows per block).
//       dw_final: uint C, uint B, uint accumulate.
// Spec: 0 = workgroup size (a power of two, <= 1024); dx only: 1 = lanes per row (a power of two <= size).
//! variant rmsnorm_bwd_dx -DSTAGE_DX=1
//! variant rmsnorm_bwd_dw_partial -DSTAGE_DW_PARTIAL=1
//! variant rmsnorm_bwd_dw_final -DSTAGE_DW_FINAL=1
#if defined(STAGE_DX)
#include "row_layout.glsl"
#else
#include "common.glsl"
layout(constant_id = 0) const uint WORKGROUP_SIZE = 128;
layout(local_size_x_id = 0) in;
#endif
#include "act_storage.glsl"

#if defined(STAGE_DX)
layout(std430, set = 0, binding = 0) readonly buffer X { act_t x[]; };
layout(std430, set = 0, binding = 1) readonly buffer W { float weight[]; };
layout(std430, set = 0, binding = 2) readonly buffer Rstd { float rstd[]; };
layout(std430, set = 0, binding = 3) readonly buffer DY { act_t dy[]; };
layout(std430, set = 0, binding = 4) buffer DX { act_t dx[]; };
layout(push_constant) uniform Push { uint R; uint C; uint accumulate; } pc;

void main() {
    uint lane = row_lane();
    for (uint first = first_row_of_group(); first < pc.R; first += row_group_stride()) {
        uint r = first + row_slot();
        bool row_valid = r < pc.R;
        uint base = r * pc.C;
        float sum = 0.0;
        if (row_valid)
            for (uint c = lane; c < pc.C; c += LANES_PER_ROW)
                sum += weight[c] * LOAD_ACT(dy[base + c]) * LOAD_ACT(x[base + c]);
        float dot = row_reduce(sum);
        if (row_valid) {
            float inverse = rstd[r];
            float correction = inverse * inverse * inverse / float(pc.C) * dot;
            for (uint c = lane; c < pc.C; c += LANES_PER_ROW) {
                float gradient = inverse * weight[c] * LOAD_ACT(dy[base + c]) - correction * LOAD_ACT(x[base + c]);
                if (pc.accumulate != 0u) gradient += LOAD_ACT(dx[base + c]);
                dx[base + c] = STORE_ACT(gradient);
            }
        }
    }
}

#elif defined(STAGE_DW_PARTIAL)
layout(std430, set = 0, binding = 0) readonly buffer X { act_t x[]; };
layout(std430, set = 0, binding = 1) readonly buffer Rstd { float rstd[]; };
layout(std430, set = 0, binding = 2) readonly buffer DY { act_t dy[]; };
layout(std430, set = 0, binding = 3) writeonly buffer Partial { float partial[]; };
layout(push_constant) uniform Push { uint R; uint C; uint S; } pc;

void main() {
    uint c = gl_GlobalInvocationID.x;
    if (c >= pc.C) return;
    uint block = gl_WorkGroupID.y;
    uint first = block * pc.S;
    uint last = min(first + pc.S, pc.R);
    float sum = 0.0;
    for (uint r = first; r < last; r++) sum += LOAD_ACT(dy[r * pc.C + c]) * LOAD_ACT(x[r * pc.C + c]) * rstd[r];
    partial[block * pc.C + c] = sum;
}

#elif defined(STAGE_DW_FINAL)
layout(std430, set = 0, binding = 0) readonly buffer Partial { float partial[]; };
layout(std430, set = 0, binding = 1) buffer DW { float dweight[]; };
layout(push_constant) uniform Push { uint C; uint B; uint accumulate; } pc;

void main() {
    uint c = gl_GlobalInvocationID.x;
    if (c >= pc.C) return;
    float sum = 0.0;
    for (uint b = 0u; b < pc.B; b++) sum += partial[b * pc.C + c];
    dweight[c] = pc.accumulate != 0u ? dweight[c] + sum : sum;
}
#endif
