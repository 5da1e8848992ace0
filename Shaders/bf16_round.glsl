// fp32 -> bf16 rounded to nearest even: the top half of the fp32 bit pattern, rounded in integer arithmetic;
// values beyond bf16's range become infinity, NaN stays a (quiet) NaN. Needs GL_EXT_shader_16bit_storage.
uint16_t to_bf16(float value) {
    uint bits = floatBitsToUint(value);
    if (isnan(value)) return uint16_t((bits >> 16) | 0x40u);
    return uint16_t((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}
