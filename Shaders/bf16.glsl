// fp32 -> bf16 (the top half of the fp32 bit pattern), rounded to nearest even in integer arithmetic; NaN stays a
// (quiet) NaN, values beyond bf16's range become infinity. The one rounding of cast_16bit.comp, act_storage.glsl
// and adamw.comp, which Runtime/Reference/SixteenBitReference.cs reproduces on the CPU. Needs
// GL_EXT_shader_16bit_storage.
uint16_t to_bf16(float value) {
    uint bits = floatBitsToUint(value);
    if (isnan(value)) return uint16_t((bits >> 16) | 0x40u);
    return uint16_t((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}
