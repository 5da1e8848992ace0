// Storage type of activation buffers. Kernels declare such buffers as `act_t name[]`, read with LOAD_ACT(name[i])
// (always fp32 arithmetic) and write with name[i] = STORE_ACT(value). The default is fp32 storage; a variant compiled
// with -DACT_F16=1 stores fp16, one with -DACT_BF16=1 bf16 (rounded to nearest even as cast_16bit.comp rounds), and
// both still compute in fp32 (they need storageBuffer16BitAccess; bf16's rounding also shaderInt16). ACT_16BIT is 1
// in those variants, 0 in fp32.
#if defined(ACT_F16)
#extension GL_EXT_shader_16bit_storage : require
#define ACT_16BIT 1
#define act_t float16_t
#define LOAD_ACT(value) float(value)
#define STORE_ACT(value) float16_t(value)
#elif defined(ACT_BF16)
#extension GL_EXT_shader_16bit_storage : require
#include "bf16.glsl"
#define ACT_16BIT 1
#define act_t uint16_t
#define LOAD_ACT(value) uintBitsToFloat(uint(value) << 16)
#define STORE_ACT(value) to_bf16(value)
#else
#define ACT_16BIT 0
#define act_t float
#define LOAD_ACT(value) float(value)
#define STORE_ACT(value) act_t(value)
#endif
