// Included by every kernel. Each kernel binds its buffers at set 0, bindings 0..7 (the runtime's one
// descriptor-set layout) and reads per-dispatch values from a push-constant block (<= 128 bytes).
//
// Never read gl_WorkGroupSize: Debian 12's spirv-opt (2022.4, run by glslc -O) folds it to the
// unspecialised default. Declare the size as a constant_id and use that name instead, as
// grid_stride.glsl does.
#extension GL_EXT_control_flow_attributes : require
