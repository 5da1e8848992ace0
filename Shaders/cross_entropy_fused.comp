#version 450
// Fused softmax cross-entropy over the rows of a logits matrix, LANES_PER_ROW lanes per row, no
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
// Spec: 0 = workgroup size, 1 = LANES_PER_ROW; both powers of two, LANES_PER_ROW <= workgroup size.
// A workgroup handles WORKGROUP_SIZE / LANES_PER_ROW rows, LANES_PER_ROW lanes each: one row per
// group for a 50k vocabulary, several for a byte vocabulary, where per-group overhead would dominate
// (lavapipe pays ~10 us per workgroup). Dispatch: ceil(rowCount / rows per group) groups along x.
//
// Each row's reduction is a shared-memory tree with a barrier per level, so it is correct for every
// subgroup size (8 on lavapipe, 32 NVIDIA, 64 AMD) and its order of additions is fixed: reruns are
// bit-identical.
//! variant cross_entropy_fused -DWITH_GRADIENT=1
//! variant cross_entropy_forward -DWITH_GRADIENT=0
#include "common.glsl"
layout(constant_id = 0) const uint WORKGROUP_SIZE = 256;
layout(constant_id = 1) const uint LANES_PER_ROW = 256;
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
    uint local = gl_LocalInvocationID.x;
    uint lane = local % LANES_PER_ROW;
    uint first_lane = local - lane;  // this row's first slot in the shared arrays
    uint row = gl_WorkGroupID.x * (WORKGROUP_SIZE / LANES_PER_ROW) + local / LANES_PER_ROW;
    // Rows past the end (the last group's tail) still take part in every barrier; they touch no memory.
    bool row_valid = row < pc.rowCount;
    uint base = row * pc.vocabSize;
    uint target = row_valid ? targets[row] : 0u;
#if WITH_GRADIENT
    float weight = row_valid ? weights[row] : 0.0;
    // A row of weight 0 reads no logits (they may be anything) and gets exact zeros.
    bool row_active = row_valid && weight != 0.0;
#else
    bool row_active = row_valid;
#endif
    uint read_limit = row_active ? pc.vocabSize : 0u;

    // One read pass: each lane keeps a running maximum and the sum of exp(x - running maximum).
    float running_max = LOWEST;
    float running_sum = 0.0;
    for (uint i = lane; i < read_limit; i += LANES_PER_ROW) {
        float x = logits[base + i];
        if (x > running_max) {
            running_sum = running_sum * exp(running_max - x) + 1.0;
            running_max = x;
        } else {
            running_sum += exp(x - running_max);
        }
    }
    shared_max[local] = running_max;
    shared_sum[local] = running_sum;
    barrier();
    for (uint width = LANES_PER_ROW / 2; width > 0; width /= 2) {
        if (lane < width) {
            float max_a = shared_max[local], max_b = shared_max[local + width];
            float combined = max(max_a, max_b);
            shared_sum[local] = shared_sum[local] * exp(max_a - combined) + shared_sum[local + width] * exp(max_b - combined);
            shared_max[local] = combined;
        }
        barrier();
    }
    float log_sum_exp = shared_max[first_lane] + log(shared_sum[first_lane]);
    bool target_valid = target < pc.vocabSize;

#if WITH_GRADIENT
    float gradient_scale = weight * pc.lossScale;
    // The row's lane 0 reads the target logit before any lane overwrites it: the barrier orders the two.
    if (lane == 0 && row_valid) {
        float nll = target_valid ? log_sum_exp - logits[base + target] : uintBitsToFloat(0x7fc00000u);
        losses[row] = row_active ? nll * gradient_scale : 0.0;
    }
    barrier();
    uint write_limit = row_valid ? pc.vocabSize : 0u;
    for (uint i = lane; i < write_limit; i += LANES_PER_ROW) {
        float gradient = 0.0;
        if (row_active) gradient = (exp(logits[base + i] - log_sum_exp) - (i == target ? 1.0 : 0.0)) * gradient_scale;
        logits[base + i] = gradient;
    }
#else
    if (lane == 0 && row_valid) losses[row] = target_valid ? log_sum_exp - logits[base + target] : uintBitsToFloat(0x7fc00000u);
#endif
}
