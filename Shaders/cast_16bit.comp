#version 450
// Casts fp32 to a 16-bit format for the matmuls of mixed precision: y[i] = round(x[i] * 2^e), i < count, rounded
// to nearest even; values beyond the format's range become infinity, as in PyTorch, so the loss scaler sees them.
//   cast_f16, cast_bf16        e = 0 (weight copies, activations)
//   cast_f16_loss_scaled       e = loss_scale_exponent from the step-scalar block: fp16's dynamic loss scale,
//                              applied where the loss gradient first becomes fp16 (a power of two, so exact)
// bf16 is the top half of the fp32 bit pattern, rounded in integer arithmetic (bf16.glsl); NaN stays a (quiet) NaN.
// Bindings: 0 x fp32 (read), 1 y fp16 or bf16 (written), 2 step scalars (loss-scaled variant). Push: uint count.
// Spec: 0 = workgroup size.
//! variant cast_f16 -DTO_F16=1
//! variant cast_f16_loss_scaled -DTO_F16=1 -DLOSS_SCALED=1
//! variant cast_bf16 -DTO_F16=0
#extension GL_EXT_shader_16bit_storage : require
#include "grid_stride.glsl"
#if defined(LOSS_SCALED)
#define STEP_SCALARS_BINDING 2
#include "step_scalars.glsl"
#endif
layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
#if TO_F16
layout(std430, set = 0, binding = 1) writeonly buffer Y { float16_t y[]; };
#else
layout(std430, set = 0, binding = 1) writeonly buffer Y { uint16_t y[]; };
#endif
layout(push_constant) uniform Push { uint count; } pc;

#if !TO_F16
#include "bf16.glsl"
#endif

void main() {
#if defined(LOSS_SCALED)
    int exponent = step_scalars.loss_scale_exponent;
#else
    const int exponent = 0;
#endif
    for (uint i = gl_GlobalInvocationID.x; i < pc.count; i += grid_stride_x()) {
#if TO_F16
        y[i] = float16_t(ldexp(x[i], exponent));
#else
        y[i] = to_bf16(ldexp(x[i], exponent));
#endif
    }
}
