using System.Runtime.InteropServices;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// fp16's loss scaler on the device (Shaders/loss_scale.comp): <see cref="Apply"/> opens a step by writing the scale
/// and the applied-step count into a step-scalar block, <see cref="Update"/> ends it by applying the rule to the state
/// from the step's gradient norm. The host only reads the state (one step late under submit-ahead) and uploads it on
/// resume.
/// </summary>
public static class LossScaleKernels
{
    /// <summary>The device layout of the state: the rule's growth interval travels with it.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct DeviceState
    {
        public int Exponent;
        public uint CleanSteps;
        public uint SkippedSteps;
        public uint GrowthInterval;
    }

    /// <summary>Bytes of the device state.</summary>
    public const int StateBytes = 16;

    /// <summary>The words of the device state: <paramref name="state"/> and the rule's growth interval.</summary>
    public static uint[] Encode(LossScaleState state, int growthInterval)
    {
        if (growthInterval < 1) throw new ArgumentOutOfRangeException(nameof(growthInterval), "the growth interval is at least one step");
        var device = new DeviceState
        {
            Exponent = state.Exponent,
            CleanSteps = checked((uint)state.CleanSteps),
            SkippedSteps = checked((uint)state.SkippedSteps),
            GrowthInterval = (uint)growthInterval,
        };
        return MemoryMarshal.Cast<DeviceState, uint>(MemoryMarshal.CreateReadOnlySpan(ref device, 1)).ToArray();
    }

    /// <summary>The state held in a device buffer's words (<see cref="Encode"/>'s inverse, less the growth interval).</summary>
    public static LossScaleState Decode(ReadOnlySpan<uint> words)
    {
        DeviceState device = MemoryMarshal.Cast<uint, DeviceState>(words)[0];
        return new LossScaleState(device.Exponent, checked((int)device.CleanSteps), device.SkippedSteps);
    }

    /// <summary>stepScalars.OptimizerStep -= skipped steps; stepScalars.LossScaleExponent = the state's exponent.</summary>
    public static void Apply(CommandList commands, BufferSlice state, BufferSlice stepScalars)
    {
        RequireLength(state, StateBytes, "loss-scale state");
        RequireLength(stepScalars, StepScalars.ByteLength, "step-scalar block");
        commands.Dispatch(commands.Context.Kernels.Get("loss_scale_apply"), 1, 1, 1, ReadOnlySpan<byte>.Empty,
            [Binding.Read(state.Slice(0, StateBytes)), Binding.Write(stepScalars.Slice(0, StepScalars.ByteLength))]);
    }

    /// <summary>Applies the rule to the state from the step's [norm, clip scale] (a non-finite norm: the step was skipped).</summary>
    public static void Update(CommandList commands, BufferSlice normAndScale, BufferSlice state)
    {
        RequireLength(normAndScale, 8, "gradient norm");
        RequireLength(state, StateBytes, "loss-scale state");
        commands.Dispatch(commands.Context.Kernels.Get("loss_scale_update"), 1, 1, 1, ReadOnlySpan<byte>.Empty,
            [Binding.Read(normAndScale.Slice(0, 8)), Binding.Write(state.Slice(0, StateBytes))]);
    }

    private static void RequireLength(BufferSlice slice, int bytes, string what)
    {
        if (slice.Length < bytes) throw new ArgumentException($"loss scale: {slice} is shorter than the {bytes} bytes of a {what}");
    }
}
