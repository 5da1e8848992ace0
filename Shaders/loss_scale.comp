#version 450
// fp16's dynamic loss scale kept on the device (torch.cuda.amp.GradScaler's rule), so that a training step can be
// submitted before the host has read the one before it. One invocation; the state is
//   { int exponent; uint clean_steps; uint skipped_steps; uint growth_interval; }   (Runtime/Kernels/LossScaleKernels.cs)
// loss_scale_apply, at the start of a step, for each step-scalar block the step reads (the host wrote its own step
//   count and no scale):  optimizer_step -= skipped_steps (AdamW's bias correction counts applied steps only);
//                         loss_scale_exponent = exponent.
//   Bindings: 0 state (read), 1 step scalars (read and written).
// loss_scale_update, at the end of a step (after AdamW, which skipped the update if the norm is not finite):
//   norm = norm_and_scale[0] (the unscaled gradient norm) not finite: exponent -= 1, clean_steps = 0, skipped_steps += 1;
//   else clean_steps + 1 >= growth_interval: exponent += 1, clean_steps = 0; else clean_steps += 1.
//   The host reads the state one step late and stops the run once exponent < -16 (divergence).
//   Bindings: 0 norm_and_scale (read, 2 floats), 1 state (read and written).
// The plain C# rule is Runtime/Reference/LossScaleReference.cs.
//! variant loss_scale_apply -DAPPLY=1
//! variant loss_scale_update -DAPPLY=0
#include "common.glsl"
layout(local_size_x = 1) in;

#if APPLY
layout(std430, set = 0, binding = 0) readonly buffer State { int exponent; uint clean_steps; uint skipped_steps; uint growth_interval; } state;
#define STEP_SCALARS_BINDING 1
#define STEP_SCALARS_ACCESS
#include "step_scalars.glsl"

void main() {
    step_scalars.optimizer_step -= state.skipped_steps;
    step_scalars.loss_scale_exponent = state.exponent;
}
#else
layout(std430, set = 0, binding = 0) readonly buffer NormAndScale { float norm_and_scale[2]; };
layout(std430, set = 0, binding = 1) buffer State { int exponent; uint clean_steps; uint skipped_steps; uint growth_interval; } state;

void main() {
    float norm = norm_and_scale[0];
    // The same test AdamW skips on (adamw.comp), so the count of skipped steps is the count of updates skipped.
    if (isnan(norm) || isinf(norm)) {
        state.exponent -= 1;
        state.clean_steps = 0;
        state.skipped_steps += 1;
    } else if (state.clean_steps + 1 >= state.growth_interval) {
        state.exponent += 1;
        state.clean_steps = 0;
    } else {
        state.clean_steps += 1;
    }
}
#endif
