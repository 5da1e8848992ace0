#version 450
// swiglu: the SwiGLU gate on h[R, 2F] = [gate | up] (the first half is gated by SiLU times the second):
//   swiglu_fwd: y[r, j] = silu(g) * u,  g = h[r, j], u = h[r, F + j], silu(g) = g * sigmoid(g).
//   swiglu_bwd: dh[r, j] = dy[r, j] * u * sigmoid(g) * (1 + g * (1 - sigmoid(g))),
//               dh[r, F + j] = dy[r, j] * silu(g)   (dh is overwritten).
// Bindings: fwd: 0 h (act_t[R, 2F], read), 1 y (act_t[R, F], written).
//           bwd: 0 h (read), 1 dy (act_t[R, F], read), 2 dh (act_t[R, 2F], written).
// Layout: lane x of the grid takes column j = gl_GlobalInvocationID.x < F; workgroup row y takes rows
// y, y + gl_NumWorkGroups.y, ... (no integer division per element: lavapipe runs vector division lane by lane).
// Push: uint R, uint F. Spec: 0 = workgroup size.
//! variant swiglu_fwd -DBACKWARD=0
//! variant swiglu_bwd -DBACKWARD=1
#include "grid_stride.glsl"
#include "act_storage.glsl"
layout(std430, set = 0, binding = 0) readonly buffer H { act_t h[]; };
#if BACKWARD
layout(std430, set = 0, binding = 1) readonly buffer DY { act_t dy[]; };
layout(std430, set = 0, binding = 2) writeonly buffer DH { act_t dh[]; };
#else
layout(std430, set = 0, binding = 1) writeonly buffer Y { act_t y[]; };
#endif
layout(push_constant) uniform Push { uint R; uint F; } pc;

void main() {
    uint j = gl_GlobalInvocationID.x;
    if (j >= pc.F) return;
    for (uint r = gl_WorkGroupID.y; r < pc.R; r += gl_NumWorkGroups.y) {
        uint gate_at = 2u * pc.F * r + j;
        float g = LOAD_ACT(h[gate_at]);
        float u = LOAD_ACT(h[gate_at + pc.F]);
        // exp(-g) overflows to +inf for g < -88: sigmoid then is exactly 0, the right limit.
        float sigmoid = 1.0 / (1.0 + exp(-g));
#if BACKWARD
        float gradient = LOAD_ACT(dy[r * pc.F + j]);
        dh[gate_at] = STORE_ACT(gradient * u * sigmoid * (1.0 + g * (1.0 - sigmoid)));
        dh[gate_at + pc.F] = STORE_ACT(gradient * g * sigmoid);
#else
        y[r * pc.F + j] = STORE_ACT(g * sigmoid * u);
#endif
    }
}
