#version 450
// Fused softmax cross-entropy over the rows of a logits matrix, one workgroup per row, no
// probabilities buffer. For row r (V = vocabSize):
//   lse = logsumexp(logits[r, :])              (fp32, running max subtracted: never overflows)
//   nll = lse - logits[r, targets[r]]
// cross_entropy_fused (training, WITH_GRADIENT=1):
//   losses[r]    = weights[r] * nll * lossScale
//   logits[r, :] = (softmax(logits[r, :]) - onehot(targets[r])) * weights[r] * lossScale  (overwritten)
//   A row with weight 0 reads no logits: its loss and gradient are written as exact zeros.
// cross_entropy_forward (evaluation, WITH_GRADIENT=0): losses[r] = nll; logits are only read.
// A target >= V makes the row's loss NaN (for a weighted row), so a bad token id cannot go unnoticed.
//
// Shapes: logits [rowCount, V] fp32 row-major; targets uint32 [rowCount]; weights, losses fp32 [rowCount].
// Bindings (fused):   0 logits (read+write), 1 targets (read), 2 weights (read), 3 losses (write).
// Bindings (forward): 0 logits (read),       1 targets (read), 2 losses (write).
// Push: uint vocabSize, uint rowCount, float lossScale (unused by the forward variant).
// Spec: 0 = workgroup size (a power of two <= 1024). Dispatch: rowCount groups along x.
//
// The row reduction is a shared-memory tree with a barrier per level, so it is correct for every
// subgroup size (8 on lavapipe, 32 NVIDIA, 64 AMD) and its order of additions is fixed: reruns are
// bit-identical.
//! variant cross_entropy_fused -DWITH_GRADIENT=1
//! variant cross_entropy_forward -DWITH_GRADIENT=0
#include "common.glsl"
layout(constant_id = 0) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = 0) in;

#if WITH_GRADIENT
layout(std430, set = 0, binding = 0) buffer Logits { float logits[]; };
layout(std430, set = 0, binding = 1) readonly buffer Targets { uint targets[]; };
layout(std430, set = 0, binding = 2) readonly buffer Weights { float weights[]; };
layout(std430, set = 0, binding = 3) writeonly buffer Losses { float losses[]; };
#else
layout(std430, set = 0, binding = 0) readonly buffer Logits { float logits[]; };
layout(std430, set = 0, binding = 1) readonly buffer Targets { uint targets[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Losses { float losses[]; };
#endif
layout(push_constant) uniform Push { uint vocabSize; uint rowCount; float lossScale; } pc;

// Lanes that saw no element start from (lowest finite, 0): exp(lowest - max) is 0 and never NaN.
const float LOWEST = -3.402823466e38;

shared float shared_max[WORKGROUP_SIZE];
shared float shared_sum[WORKGROUP_SIZE];

void main() {
    uint row = gl_WorkGroupID.x;
    if (row >= pc.rowCount) return;  // uniform per workgroup: no barrier is skipped by part of a group
    uint lane = gl_LocalInvocationID.x;
    uint base = row * pc.vocabSize;
    uint target = targets[row];

#if WITH_GRADIENT
    float weight = weights[row];
    if (weight == 0.0) {
        for (uint i = lane; i < pc.vocabSize; i += WORKGROUP_SIZE) logits[base + i] = 0.0;
        if (lane == 0) losses[row] = 0.0;
        return;
    }
#endif

    // One read pass: each lane keeps a running maximum and the sum of exp(x - running maximum).
    float running_max = LOWEST;
    float running_sum = 0.0;
    for (uint i = lane; i < pc.vocabSize; i += WORKGROUP_SIZE) {
        float x = logits[base + i];
        if (x > running_max) {
            running_sum = running_sum * exp(running_max - x) + 1.0;
            running_max = x;
        } else {
            running_sum += exp(x - running_max);
        }
    }
    shared_max[lane] = running_max;
    shared_sum[lane] = running_sum;
    barrier();
    for (uint width = WORKGROUP_SIZE / 2; width > 0; width /= 2) {
        if (lane < width) {
            float max_a = shared_max[lane], max_b = shared_max[lane + width];
            float combined = max(max_a, max_b);
            shared_sum[lane] = shared_sum[lane] * exp(max_a - combined) + shared_sum[lane + width] * exp(max_b - combined);
            shared_max[lane] = combined;
        }
        barrier();
    }
    float row_max = shared_max[0];
    float log_sum_exp = row_max + log(shared_sum[0]);
    bool target_valid = target < pc.vocabSize;

#if WITH_GRADIENT
    float gradient_scale = weight * pc.lossScale;
    // Lane 0 reads the target logit before any lane overwrites it: the barrier orders the two.
    if (lane == 0) {
        float nll = target_valid ? log_sum_exp - logits[base + target] : uintBitsToFloat(0x7fc00000u);
        losses[row] = nll * gradient_scale;
    }
    barrier();
    for (uint i = lane; i < pc.vocabSize; i += WORKGROUP_SIZE) {
        float probability = exp(logits[base + i] - log_sum_exp);
        logits[base + i] = (probability - (i == target ? 1.0 : 0.0)) * gradient_scale;
    }
#else
    if (lane == 0) losses[row] = target_valid ? log_sum_exp - logits[base + target] : uintBitsToFloat(0x7fc00000u);
#endif
}
