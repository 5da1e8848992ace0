#version 450
// attention_unfused_softmax_bwd: softmax backward of the UNFUSED attention baseline (UnfusedAttention.cs),
// in place on the materialised [rows, T] matrices: given P and dP, writes
//   dS[r, j] = scale * P[r, j] * (dP[r, j] - sum_k P[r, k] dP[r, k])
// over dP (masked entries have P = 0, so they get 0). fp32, one invocation per row, grid-stride.
// Bindings: 0 P (read), 1 dP (read, overwritten with dS). Push: rowCount, T, scale.
// Spec: 0 = workgroup size.
#include "grid_stride.glsl"
layout(std430, set = 0, binding = 0) readonly buffer Probabilities { float p[]; };
layout(std430, set = 0, binding = 1) buffer ProbabilityGrad { float dp[]; };
layout(push_constant) uniform Push { uint rowCount; uint T; float scale; } pc;

void main() {
    for (uint row = gl_GlobalInvocationID.x; row < pc.rowCount; row += grid_stride_x()) {
        uint start = row * pc.T;
        float dot = 0.0;
        for (uint j = 0; j < pc.T; j++) dot += p[start + j] * dp[start + j];
        for (uint j = 0; j < pc.T; j++) dp[start + j] = pc.scale * p[start + j] * (dp[start + j] - dot);
    }
}
