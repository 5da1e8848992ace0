// Philox4x32-10 (Salmon et al., SC 2011; Random123), the counter-based generator of every random kernel.
// GPU twin of Runtime/Random/Philox.cs: same bits, checked against Random123's known-answer vectors.
//
// Counter layout (identical in Philox.cs):
//   key     = (seed_lo, seed_hi)                       the run's seed (StepScalars)
//   counter = (index / 4, row, random_step, stream)    element `index` takes output word index % 4,
//                                                       so one block serves four consecutive elements
//   row: the sequence for MDM masks, else 0; random_step: StepScalars.random_step (one per forward
//   pass); stream: 0 = MDM per-token mask uniforms, 1 = MDM per-sequence t, >= 16 = dropout sites.
// Uniforms: (x >> 8) * 2^-24, exact in fp32, in [0, 1).

const uint PHILOX_STREAM_CORRUPTION_MASK = 0u;
const uint PHILOX_STREAM_CORRUPTION_TIME = 1u;

uvec4 philox4x32_10(uvec4 counter, uvec2 key) {
    [[unroll]] for (int round = 0; round < 10; round++) {
        if (round > 0) key += uvec2(0x9E3779B9u, 0xBB67AE85u);
        uint high_a, low_a, high_b, low_b;
        umulExtended(0xD2511F53u, counter.x, high_a, low_a);
        umulExtended(0xCD9E8D57u, counter.z, high_b, low_b);
        counter = uvec4(high_b ^ counter.y ^ key.x, low_b, high_a ^ counter.w ^ key.y, low_a);
    }
    return counter;
}

float philox_unit_float(uint x) { return float(x >> 8) * (1.0 / 16777216.0); }

// The four uniforms of elements 4*group .. 4*group+3 of (row, random_step, stream).
vec4 philox_uniform4(uvec2 key, uint group, uint row, uint random_step, uint stream) {
    uvec4 bits = philox4x32_10(uvec4(group, row, random_step, stream), key);
    return vec4(philox_unit_float(bits.x), philox_unit_float(bits.y), philox_unit_float(bits.z), philox_unit_float(bits.w));
}

// The uniform of element `index`: word index % 4 of block index / 4.
float philox_uniform(uvec2 key, uint index, uint row, uint random_step, uint stream) {
    return philox_uniform4(key, index >> 2, row, random_step, stream)[index & 3u];
}
