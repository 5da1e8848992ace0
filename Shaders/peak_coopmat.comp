#version 450
// peak_coopmat: a matrix-unit-bound probe for the roofline of cooperative-matrix kernels. Each subgroup holds
// 4 fp32 accumulator tiles of CM_M x CM_N and runs `iterations` rounds of 4 independent fp16 multiply-adds
// (A CM_M x CM_K times B CM_K x CM_N) on fragments built from constants, then stores the accumulators so the
// work cannot be optimised away. FLOPs = subgroups * iterations * 4 * 2 * CM_M * CM_N * CM_K.
// Bindings: 0 y (4 * CM_M * CM_N floats per subgroup, written). Push: uint iterations.
// Spec: 0 = workgroup size (a multiple of the subgroup size).
//! variant peak_coopmat_f16_16x16x16 target=vulkan1.3 -DCM_M=16 -DCM_N=16 -DCM_K=16
//! variant peak_coopmat_f16_16x8x16 target=vulkan1.3 -DCM_M=16 -DCM_N=8 -DCM_K=16
//! variant peak_coopmat_f16_8x16x16 target=vulkan1.3 -DCM_M=8 -DCM_N=16 -DCM_K=16
//! variant peak_coopmat_f16_8x8x8 target=vulkan1.3 -DCM_M=8 -DCM_N=8 -DCM_K=8
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#include "grid_stride.glsl"
layout(std430, set = 0, binding = 0) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Push { uint iterations; } pc;

void main() {
    // Small operands keep the accumulators bounded: 4 * iterations * CM_K * 2^-14 stays far below fp32 range.
    coopmat<float16_t, gl_ScopeSubgroup, CM_M, CM_K, gl_MatrixUseA> a = coopmat<float16_t, gl_ScopeSubgroup, CM_M, CM_K, gl_MatrixUseA>(float16_t(0.0078125));
    coopmat<float16_t, gl_ScopeSubgroup, CM_K, CM_N, gl_MatrixUseB> b = coopmat<float16_t, gl_ScopeSubgroup, CM_K, CM_N, gl_MatrixUseB>(float16_t(0.0078125));
    coopmat<float, gl_ScopeSubgroup, CM_M, CM_N, gl_MatrixUseAccumulator> acc[4];
    [[unroll]] for (uint t = 0u; t < 4u; t++) acc[t] = coopmat<float, gl_ScopeSubgroup, CM_M, CM_N, gl_MatrixUseAccumulator>(float(t));
    for (uint i = 0u; i < pc.iterations; i++)
        [[unroll]] for (uint t = 0u; t < 4u; t++) acc[t] = coopMatMulAdd(a, b, acc[t]);
    uint subgroup = gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID;
    [[unroll]] for (uint t = 0u; t < 4u; t++)
        coopMatStore(acc[t], y, (subgroup * 4u + t) * CM_M * CM_N, CM_N, gl_CooperativeMatrixLayoutRowMajor);
}
