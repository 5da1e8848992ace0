// Storage type of activation and gradient buffers. Kernels declare such buffers as `act_t name[]`, read
// with LOAD_ACT(name[i]) (always fp32 arithmetic) and write with name[i] = STORE_ACT(value). The default
// is fp32 storage; a variant compiled with -DACT_F16=1 stores fp16 and still computes in fp32 (needs
// storageBuffer16BitAccess and, for the fp16 conversions, shaderFloat16).
#if defined(ACT_F16) && ACT_F16
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#define act_t float16_t
#else
#define act_t float
#endif
#define LOAD_ACT(value) float(value)
#define STORE_ACT(value) act_t(value)
