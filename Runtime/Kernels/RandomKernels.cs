using VkDiffusion.Runtime.Vulkan;
using static VkDiffusion.Runtime.Kernels.KernelShapes;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>Raw Philox4x32-10 blocks on the GPU (Shaders/philox_blocks.comp), the twin of <see cref="Randomness.Philox4x32.Block"/>.</summary>
public static class RandomKernels
{
    private const uint WorkgroupSize = 256;

    private readonly record struct Push(uint Count, uint Counter0, uint Counter1, uint Counter2, uint Counter3, uint Key0, uint Key1);

    /// <summary>words[4i .. 4i+3] = Philox4x32-10(counter = (counter0 + i, counter1, counter2, counter3), key) for i &lt; blockCount.</summary>
    public static void PhiloxBlocks(CommandList c, BufferSlice words, int blockCount, uint counter0, uint counter1, uint counter2, uint counter3, uint key0, uint key1)
    {
        uint blocks = Positive(blockCount, nameof(blockCount));
        c.Dispatch(c.Context.Kernels.Get("philox_blocks", WorkgroupSize), Groups(blocks, WorkgroupSize), 1, 1,
            new Push(blocks, counter0, counter1, counter2, counter3, key0, key1),
            Binding.Write(Exactly(words, 4L * blocks, "philox blocks", nameof(words))));
    }
}
