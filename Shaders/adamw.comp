#version 450
// AdamW update, the operation order of torch.optim.AdamW (single-tensor path), every scalar from the
// step-scalar block (lr, beta1, beta2, eps, weight decay, 1-based optimizer step t):
//   g     = gradient[i] * norm_and_scale[1]            (global-norm clip scale)
//   p     = p * (1 - lr * weight_decay)                (only when applyWeightDecay != 0)
//   m     = m + (1 - beta1) * (g - m)                  (torch: exp_avg.lerp_(grad, 1 - beta1))
//   v     = beta2 * v + (1 - beta2) * g * g
//   denom = sqrt(v) / sqrt(1 - beta2^t) + eps
//   p     = p - (lr / (1 - beta1^t)) * m / denom
// A non-finite gradient norm (norm_and_scale[0]: an fp16 gradient overflowed under the loss scale) skips the step:
// parameters and moments stay as they are, as torch.cuda.amp.GradScaler skips optimizer.step().
// Mixed precision (adamw_f16_copy, adamw_bf16_copy) also writes the updated parameter rounded to nearest even into
// its 16-bit copy, the one the next step's matmuls read: cast once per update, fused, instead of once per use.
// A skipped step leaves the copy as it is, still the rounding of the unchanged parameter.
// Shapes: parameters, gradients, first and second moments: fp32 [count]; copy: fp16 or bf16 [count].
// Bindings: 0 parameters (read+write), 1 gradients (read), 2 first moment (read+write),
//   3 second moment (read+write), 4 step scalars (read), 5 norm_and_scale (read, 2 floats), 6 copy (written).
// Push: uint count, uint applyWeightDecay. Spec: 0 = workgroup size.
//! variant adamw
//! variant adamw_f16_copy -DCOPY_F16=1
//! variant adamw_bf16_copy -DCOPY_BF16=1
#include "grid_stride.glsl"
#define STEP_SCALARS_BINDING 4
#include "step_scalars.glsl"
layout(std430, set = 0, binding = 0) buffer Parameters { float parameters[]; };
layout(std430, set = 0, binding = 1) readonly buffer Gradients { float gradients[]; };
layout(std430, set = 0, binding = 2) buffer FirstMoment { float first_moment[]; };
layout(std430, set = 0, binding = 3) buffer SecondMoment { float second_moment[]; };
layout(std430, set = 0, binding = 5) readonly buffer NormAndScale { float norm_and_scale[2]; };
#if defined(COPY_F16)
#extension GL_EXT_shader_16bit_storage : require
layout(std430, set = 0, binding = 6) writeonly buffer Copy { float16_t parameter_copy[]; };
#elif defined(COPY_BF16)
#extension GL_EXT_shader_16bit_storage : require
#include "bf16.glsl"
layout(std430, set = 0, binding = 6) writeonly buffer Copy { uint16_t parameter_copy[]; };
#endif
layout(push_constant) uniform Push { uint count; uint applyWeightDecay; } pc;

// base^exponent by repeated squaring: about log2(t) roundings, where pow() (exp2(t * log2(base)))
// loses digits that 1 - beta2^t then amplifies twentyfold at t = 1.
float power(float base, uint exponent) {
    float result = 1.0;
    while (exponent != 0u) {
        if ((exponent & 1u) != 0u) result *= base;
        base *= base;
        exponent >>= 1;
    }
    return result;
}

void main() {
    if (isnan(norm_and_scale[0]) || isinf(norm_and_scale[0])) return;
    float lr = step_scalars.learning_rate;
    float beta1 = step_scalars.beta1;
    float beta2 = step_scalars.beta2;
    uint t = step_scalars.optimizer_step;
    float step_size = lr / (1.0 - power(beta1, t));
    float bias_correction2_sqrt = sqrt(1.0 - power(beta2, t));
    float decay_factor = pc.applyWeightDecay != 0u ? 1.0 - lr * step_scalars.weight_decay : 1.0;
    float clip_scale = norm_and_scale[1];

    for (uint i = gl_GlobalInvocationID.x; i < pc.count; i += grid_stride_x()) {
        float g = gradients[i] * clip_scale;
        float m = first_moment[i];
        m = m + (1.0 - beta1) * (g - m);
        float v = beta2 * second_moment[i] + (1.0 - beta2) * g * g;
        first_moment[i] = m;
        second_moment[i] = v;
        float denom = sqrt(v) / bias_correction2_sqrt + step_scalars.adam_epsilon;
        float updated = parameters[i] * decay_factor - step_size * m / denom;
        parameters[i] = updated;
#if defined(COPY_F16)
        parameter_copy[i] = float16_t(updated);
#elif defined(COPY_BF16)
        parameter_copy[i] = to_bf16(updated);
#endif
    }
}
