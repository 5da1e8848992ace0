#version 450
// attention_unfused_softmax: row softmax of the UNFUSED attention baseline (UnfusedAttention.cs), in
// place on the materialised [rows, T] score matrices: S[r, :] = softmax(S[r, :]) over the visible
// columns, 0 elsewhere (causal: row r of each T x T matrix sees columns 0..r mod T). fp32, one
// invocation per row (three passes: max, sum, normalise), grid-stride.
// Bindings: 0 scores (read and written). Push: rowCount, T, causal. Spec: 0 = workgroup size.
#include "grid_stride.glsl"
layout(std430, set = 0, binding = 0) buffer Scores { float scores[]; };
layout(push_constant) uniform Push { uint rowCount; uint T; uint causal; } pc;

void main() {
    for (uint row = gl_GlobalInvocationID.x; row < pc.rowCount; row += grid_stride_x()) {
        uint start = row * pc.T;
        uint visible = pc.causal != 0u ? row % pc.T + 1u : pc.T;
        float maximum = scores[start];
        for (uint j = 1; j < visible; j++) maximum = max(maximum, scores[start + j]);
        float sum = 0.0;
        for (uint j = 0; j < visible; j++) {
            float p = exp(scores[start + j] - maximum);
            scores[start + j] = p;
            sum += p;
        }
        float inverse = 1.0 / sum;
        for (uint j = 0; j < visible; j++) scores[start + j] *= inverse;
        for (uint j = visible; j < pc.T; j++) scores[start + j] = 0.0;
    }
}
