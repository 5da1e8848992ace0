using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

public sealed class RecordingTests(GpuFixture fixture) : GpuTest(fixture)
{
    [Fact]
    public void A_chain_of_100_dependent_dispatches_in_one_submission_gives_the_right_answer()
    {
        const int count = 4099;
        using GpuBuffer x = Context.Upload<float>(Enumerable.Repeat(1f, count).ToArray(), "x");
        using GpuBuffer one = Context.Upload<float>(Enumerable.Repeat(1f, count).ToArray(), "one");
        int submissionsBefore = Context.SubmissionCount;
        using CommandList commands = Context.CreateCommandList();
        for (int step = 0; step < 100; step++) BasicKernels.Add(commands, x.Whole, one.Whole, x.Whole);
        Context.Run(commands);
        Assert.Equal(1, Context.SubmissionCount - submissionsBefore);
        Assert.All(Context.Download<float>(x), value => Assert.Equal(101f, value));
        // Each add reads what the previous one wrote: exactly one barrier between consecutive dispatches.
        Assert.Equal(99, commands.BarrierCount);
    }

    [Fact]
    public void Independent_dispatches_get_no_barrier()
    {
        using GpuBuffer source = Context.Upload<float>(TestData.Uniform(1024, seed: 5), "source");
        var outputs = Enumerable.Range(0, 10).Select(i => Context.Allocate<float>(1024, $"out{i}")).ToList();
        using CommandList commands = Context.CreateCommandList();
        foreach (GpuBuffer output in outputs) BasicKernels.Scale(commands, source.Whole, output.Whole, 2f);
        Context.Run(commands);
        Assert.Equal(0, commands.BarrierCount);
        Assert.Equal(10, commands.DispatchCount);
        outputs.ForEach(o => o.Dispose());
    }

    [Fact]
    public void Disjoint_slices_of_one_buffer_are_independent_but_overlapping_ones_are_not()
    {
        using GpuBuffer buffer = Context.Allocate<float>(4096, "buffer");
        using CommandList commands = Context.CreateCommandList();
        BasicKernels.Fill(commands, buffer.Elements<float>(0, 1024), 1f);
        BasicKernels.Fill(commands, buffer.Elements<float>(1024, 1024), 2f);
        Assert.Equal(0, commands.BarrierCount);
        BasicKernels.Scale(commands, buffer.Elements<float>(0, 1024), buffer.Elements<float>(2048, 1024), 3f);
        Assert.Equal(1, commands.BarrierCount);
        // Write-after-read: overwriting what the scale read needs a barrier too.
        BasicKernels.Fill(commands, buffer.Elements<float>(3072, 1024), 4f);
        Assert.Equal(1, commands.BarrierCount);
        BasicKernels.Fill(commands, buffer.Elements<float>(0, 1024), 5f);
        Assert.Equal(2, commands.BarrierCount);
        Context.Run(commands);
        float[] result = Context.Download<float>(buffer);
        Assert.Equal(5f, result[0]);
        Assert.Equal(2f, result[1024]);
        Assert.Equal(3f, result[2048]);
        Assert.Equal(4f, result[3072]);
    }

    [Fact]
    public void A_recorded_list_replays_and_profiles_each_dispatch()
    {
        using GpuBuffer x = Context.Upload<float>([1f, 2f, 3f], "x");
        using CommandList commands = Context.CreateCommandList(profile: true);
        BasicKernels.Scale(commands, x.Whole, x.Whole, 2f);
        for (int run = 0; run < 3; run++) Context.Run(commands);
        Assert.Equal([8f, 16f, 24f], Context.Download<float>(x));
        var timings = commands.ReadTimings();
        Assert.Single(timings);
        Assert.StartsWith("scale", timings[0].Label);
        Assert.True(timings[0].Milliseconds >= 0);
    }

    [Fact]
    public void Binding_more_than_the_device_range_is_refused_with_a_clear_message()
    {
        long tooLarge = (long)Context.Info.MaxStorageBufferRange + 1024;
        using GpuBuffer big = Context.Memory.Allocate(tooLarge, "big");
        using GpuBuffer partials = Context.Allocate<float>(BasicKernels.SumPartialCount, "partials"), total = Context.Allocate<float>(1, "total");
        using CommandList commands = Context.CreateCommandList();
        // The sum binds its input whole (its inputs are per-row losses); ops that can exceed a binding go in runs instead.
        var error = Assert.Throws<ArgumentException>(() => BasicKernels.Sum(commands, big.Whole.Slice(0, tooLarge / 4 * 4), partials.Whole, total.Whole));
        Assert.Contains("maxStorageBufferRange", error.Message);
    }

    [Fact]
    public void Texel_bindings_are_refused_outside_the_texel_slots_and_for_writes()
    {
        using GpuBuffer x = Context.Upload<float>([1f, 2f, 3f, 4f], "x");
        using GpuBuffer y = Context.Allocate<float>(4, "y");
        using CommandList commands = Context.CreateCommandList();
        Kernel copy = Context.Kernels.Get("copy", 256);
        Binding[] pastTheTexelSlots = [.. Enumerable.Repeat(Binding.Read(x), KernelCache.TexelBindingCount), Binding.ReadTexels(x.Whole)];
        pastTheTexelSlots[1] = Binding.Write(y);
        var late = Assert.Throws<ArgumentException>(() => commands.Dispatch(copy, 1, 1, 1, 4u, pastTheTexelSlots));
        Assert.Contains("texels", late.Message);
        var written = Assert.Throws<ArgumentException>(() => commands.Dispatch(copy, 1, 1, 1, 4u,
            new Binding(x.Whole, Writes: true, TexelFormat.Float), Binding.Write(y)));
        Assert.Contains("texels", written.Message);
    }
}
