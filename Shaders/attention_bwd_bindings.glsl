// The bindings of both backward halves (attention_bwd, attention_bwd_dq), after attention_common.glsl:
// 0 qkv (read, declared there), 1 LSE (read), 2 dO (read, fp32; texels at binding 10 when TEXEL_MODE != 0),
// 3 delta (read), 4 dQkv (written: the K and V parts by attention_bwd, the Q part by attention_bwd_dq).
layout(std430, set = 0, binding = 1) readonly buffer Lse { float lse[]; };
layout(std430, set = 0, binding = 2) readonly buffer OutGrad { float dO[]; };
layout(std430, set = 0, binding = 3) readonly buffer Delta { float delta[]; };
layout(std430, set = 0, binding = 4) writeonly buffer QkvGrad { float dQkv[]; };
layout(set = 0, binding = 10) uniform samplerBuffer outGradTexels;

READERS(out_grad, dO, outGradTexels, float)
