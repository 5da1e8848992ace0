using Silk.NET.Vulkan;

namespace VkDiffusion.Runtime.Vulkan;

/// <summary>A compute pipeline: one SPIR-V kernel with its specialization constants fixed.</summary>
public sealed class Kernel
{
    internal Kernel(string name, uint[] specialization, Pipeline pipeline)
    {
        Name = name;
        Specialization = specialization;
        Pipeline = pipeline;
    }

    public string Name { get; }
    public IReadOnlyList<uint> Specialization { get; }
    internal Pipeline Pipeline { get; }

    public override string ToString() => Specialization.Count == 0 ? Name : $"{Name}<{string.Join(',', Specialization)}>";
}
