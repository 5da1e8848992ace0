// The per-step scalar block (Runtime/Kernels/StepScalars.cs, same std430 layout), written by the host
// before each submission. Define STEP_SCALARS_BINDING before including; define STEP_SCALARS_ACCESS empty to write
// the block (only loss_scale.comp does: fp16's loss scale and applied-step count come from the device).
#ifndef STEP_SCALARS_ACCESS
#define STEP_SCALARS_ACCESS readonly
#endif
layout(std430, set = 0, binding = STEP_SCALARS_BINDING) STEP_SCALARS_ACCESS buffer StepScalarsBuffer {
    uint optimizer_step;   // 1-based AdamW step (under fp16 training, less the skipped steps: loss_scale.comp)
    uint random_step;      // forward-pass counter keying MDM masks and dropout
    uint seed_lo;
    uint seed_hi;
    float learning_rate;
    float beta1;
    float beta2;
    float adam_epsilon;
    float weight_decay;
    float clip_norm;       // <= 0: no clipping
    int loss_scale_exponent; // fp16 mixed precision: the loss gradient is scaled by 2^this (0 otherwise; set by loss_scale.comp)
} step_scalars;
