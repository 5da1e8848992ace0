#version 450
// matmul_split_reduce: the second pass of a split-K matmul (matmul.comp). For b < batch, i < M, j < N:
//   C[c_offset + b*c_batch + i*c_stride_i + j] (+)= sum over s < split_count, in order, of
//   partial[s*partial_split + (b*M + i)*N + j]
// The sum runs in a fixed order with no atomics, so a split product is bit-identical run to run.
// Bindings: 0 partial (read), 1 c (written; read too when accumulate != 0).
// Push: uint M, N, batch, split_count, partial_split, accumulate, c_offset, c_stride_i, c_batch (elements).
// Spec: 0 = workgroup size. One invocation per output element, grid-stride over M * N * batch.
#include "grid_stride.glsl"
layout(std430, set = 0, binding = 0) readonly buffer Partial { float partial[]; };
layout(std430, set = 0, binding = 1) buffer C { float c[]; };
layout(push_constant) uniform Push {
    uint M, N, batch, split_count, partial_split, accumulate, c_offset, c_stride_i, c_batch;
} pc;

void main() {
    uint count = pc.M * pc.N * pc.batch;
    for (uint e = gl_GlobalInvocationID.x; e < count; e += grid_stride_x()) {
        float sum = 0.0;
        for (uint s = 0u; s < pc.split_count; s++) sum += partial[s * pc.partial_split + e];
        uint j = e % pc.N, row = e / pc.N;
        uint i = row % pc.M, b = row / pc.M;
        uint index = pc.c_offset + b * pc.c_batch + i * pc.c_stride_i + j;
        if (pc.accumulate != 0u) sum += c[index];
        c[index] = sum;
    }
}
