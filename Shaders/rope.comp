#version 450
// rope: rotary position embedding (rotate-half / GPT-NeoX convention), in place on the Q and K parts of
// fused QKV activations qkv[T, 3 * H * D], laid out per token as [Q of all heads | K of all heads | V of
// all heads]; V is untouched. For token t, Q or K head h, and i < D/2, with a = element i and b = element
// i + D/2 of that head:
//   angle = float(positions[t]) * inv_freq_i,  inv_freq_i = theta^(-2i/D) = exp2(i * exponent_step),
//   exponent_step = -2 log2(theta) / D (from the host);  s = direction * sin(angle), c = cos(angle)
//   a' = a c - b s,  b' = b c + a s.
// direction +1 is the forward rotation; -1 rotates by -angle, the transpose, which is the backward of the
// forward applied to dQKV. Sine and cosine come from accurate_sincos below, not the GLSL built-ins
// (Vulkan only bounds those to 2^-11 absolute inside [-pi, pi], and angles reach thousands of radians).
// Bindings: 0 qkv (float[T, 3HD], read and written), 1 positions (uint[T], read).
// Variants rope_to_f16, rope_to_bf16 (ACT_F16, ACT_BF16: mixed precision's 16-bit attention input in one pass): qkv is
// only read, and binding 2, rotated (act_t[T, 3HD], written), receives the rotated Q and K and V unchanged, each rounded
// to 16 bits once (act_storage.glsl); each lane also copies V element k of its tokens.
// Layout: lane x of the grid takes column k = gl_GlobalInvocationID.x < H * D, the pair (Q or K head k / (D/2),
// i = k % (D/2)); workgroup row y takes tokens y, y + gl_NumWorkGroups.y, ... The division and inv_freq are
// per lane, not per element (lavapipe runs vector integer division lane by lane).
// Push: uint T, uint H, uint D, float exponent_step, float direction. Spec: 0 = workgroup size.
#include "grid_stride.glsl"
//! variant rope
//! variant rope_to_f16 -DACT_F16=1
//! variant rope_to_bf16 -DACT_BF16=1
#include "act_storage.glsl"
#if ACT_16BIT
layout(std430, set = 0, binding = 0) readonly buffer QKV { float qkv[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Rotated { act_t rotated[]; };
#else
layout(std430, set = 0, binding = 0) buffer QKV { float qkv[]; };
#define rotated qkv
#endif
layout(std430, set = 0, binding = 1) readonly buffer Positions { uint positions[]; };
layout(push_constant) uniform Push { uint T; uint H; uint D; float exponent_step; float direction; } pc;

// Cephes sinf/cosf: subtract the nearest even multiple j of pi/4 in three parts (Cody-Waite; exact for
// |x| up to ~8192), then minimax polynomials on [-pi/4, pi/4]: a few ulp of the fp32 argument's sine.
void accurate_sincos(float x, out float sine, out float cosine) {
    float sine_sign = x < 0.0 ? -1.0 : 1.0;
    x = abs(x);
    uint j = uint(x * 1.27323954473516);
    j += j & 1u;
    float y = float(j);
    float z = ((x - y * 0.78515625) - y * 2.4187564849853515625e-4) - y * 3.77489497744594108e-8;
    float zz = z * z;
    float sin_poly = ((-1.9515295891e-4 * zz + 8.3321608736e-3) * zz - 1.6666654611e-1) * zz * z + z;
    float cos_poly = ((2.443315711809948e-5 * zz - 1.388731625493765e-3) * zz + 4.166664568298827e-2) * zz * zz - 0.5 * zz + 1.0;
    bool quarter = (j & 2u) != 0u;   // odd multiple of pi/2: sine and cosine swap roles
    bool half_turn = (j & 4u) != 0u; // odd multiple of pi: both change sign
    sine = sine_sign * (half_turn ? -1.0 : 1.0) * (quarter ? cos_poly : sin_poly);
    cosine = (half_turn != quarter ? -1.0 : 1.0) * (quarter ? sin_poly : cos_poly);
}

void main() {
    uint half_dim = pc.D / 2u;
    uint column = gl_GlobalInvocationID.x;
    if (column >= pc.H * pc.D) return;
    uint i = column % half_dim;
    uint head = column / half_dim;
    uint token_stride = 3u * pc.H * pc.D;
    uint head_offset = head * pc.D + i;
    float inv_freq = exp2(float(i) * pc.exponent_step);
    for (uint t = gl_WorkGroupID.y; t < pc.T; t += gl_NumWorkGroups.y) {
        uint a_at = t * token_stride + head_offset;
        uint b_at = a_at + half_dim;
        float angle = float(positions[t]) * inv_freq;
        float s, c;
        accurate_sincos(angle, s, c);
        s *= pc.direction;
        float a = float(qkv[a_at]), b = float(qkv[b_at]);
        rotated[a_at] = STORE_ACT(a * c - b * s);
        rotated[b_at] = STORE_ACT(b * c + a * s);
#if ACT_16BIT
        uint v_at = t * token_stride + 2u * pc.H * pc.D + column;
        rotated[v_at] = STORE_ACT(qkv[v_at]);
#endif
    }
}
