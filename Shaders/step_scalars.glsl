// The per-step scalar block (Runtime/Kernels/StepScalars.cs, same std430 layout), written by the host
// before each submission. Define STEP_SCALARS_BINDING before including.
layout(std430, set = 0, binding = STEP_SCALARS_BINDING) readonly buffer StepScalarsBuffer {
    uint optimizer_step;   // 1-based AdamW step
    uint random_step;      // forward-pass counter keying MDM masks and dropout
    uint seed_lo;
    uint seed_hi;
    float learning_rate;
    float beta1;
    float beta2;
    float adam_epsilon;
    float weight_decay;
    float clip_norm;       // <= 0: no clipping
    int loss_scale_exponent; // fp16 mixed precision: the loss gradient is scaled by 2^this (0 otherwise)
} step_scalars;
