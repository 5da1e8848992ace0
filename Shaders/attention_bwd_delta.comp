#version 450
// attention_bwd_delta: the backward preprocess, delta[b,h,i] = sum_d dO[b,i,h,d] * O[b,i,h,d]
// (= rowsum(dO * O), which equals sum_j P_ij dP_ij), computed once per row so the dK/dV and dQ passes
// need not recompute it per key block. One invocation per row, grid-stride.
// Shapes: O, dO [B, T, H, headDim]; delta [B, H, T]; fp32. Rows are numbered in delta's order.
// Bindings: 0 O (read), 1 dO (read), 2 delta (written).
// Push: rowCount (= B*H*T of this chunk), T, H, headDim, and the element offsets of the chunk in the
// O, dO and delta bindings. Spec: 0 = workgroup size.
#include "grid_stride.glsl"

layout(std430, set = 0, binding = 0) readonly buffer Out { float o[]; };
layout(std430, set = 0, binding = 1) readonly buffer OutGrad { float dO[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Delta { float delta[]; };
layout(push_constant) uniform Push {
    uint rowCount;
    uint T;
    uint H;
    uint headDim;
    uint outBase;
    uint outGradBase;
    uint deltaBase;
} pc;

void main() {
    for (uint row = gl_GlobalInvocationID.x; row < pc.rowCount; row += grid_stride_x()) {
        uint t = row % pc.T, head = row / pc.T;
        uint h = head % pc.H, b = head / pc.H;
        uint at = ((b * pc.T + t) * pc.H + h) * pc.headDim;
        float sum = 0.0;
        for (uint d = 0; d < pc.headDim; d++) sum += dO[pc.outGradBase + at + d] * o[pc.outBase + at + d];
        delta[pc.deltaBase + row] = sum;
    }
}
