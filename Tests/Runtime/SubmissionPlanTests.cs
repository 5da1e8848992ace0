using VkDiffusion.Runtime.Kernels;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Runtime;

public sealed class SubmissionPlanTests(GpuFixture fixture) : GpuTest(fixture)
{
    [Fact]
    public void Commands_are_packed_greedily_into_submissions_under_the_bound()
    {
        // By hand, bound 6: [2 + 3] (+4 would be 9), [4 + 1] (+5 would be 10), [5].
        (string, double)[] times = [("a", 2), ("b", 3), ("c", 4), ("d", 1), ("e", 5)];
        SubmissionPlan plan = SubmissionPlan.Bounded(times, maxMilliseconds: 6);
        Assert.Equal([false, false, true, false, true], Enumerable.Range(0, times.Length).Select(plan.StartsSubmission));
        Assert.False(SubmissionPlan.Whole.StartsSubmission(3));
        Assert.Equal([false, true, true], Enumerable.Range(0, 3).Select(SubmissionPlan.OnePerCommand.StartsSubmission));
    }

    [Fact]
    public void A_bound_below_one_dispatch_names_that_dispatch_and_its_time()
    {
        var error = Assert.Throws<InvalidInputException>(() => SubmissionPlan.Bounded([("copy", 0.5), ("matmul_texel<1024>", 7.25), ("add", 1)], 2));
        Assert.Equal(ExitCodes.InvalidInput, error.ExitCode);
        Assert.Contains("matmul_texel<1024> takes 7.250 ms", error.Message);
        Assert.Contains("--max-submit-ms 2", error.Message);
    }

    [Fact]
    public void The_default_bound_is_under_two_seconds_for_watchdog_guarded_gpus_only()
    {
        DeviceInfo amdGpu = DeviceKinds.Gpu(Context.Info) with { VendorId = 0x1002 };
        DeviceInfo nvidiaGpu = amdGpu with { VendorId = 0x10de };
        Assert.True(SubmissionPlan.WatchdogSafeMilliseconds < 2000);
        // This suite runs on Linux: amdgpu's lockup timeout bounds AMD GPUs; lavapipe and NVIDIA have no short watchdog.
        Assert.Equal(SubmissionPlan.WatchdogSafeMilliseconds, SubmissionPlan.DefaultMaxMilliseconds(amdGpu));
        Assert.Null(SubmissionPlan.DefaultMaxMilliseconds(nvidiaGpu));
        Assert.Null(SubmissionPlan.DefaultMaxMilliseconds(Context.Info));
    }

    [Fact]
    public void A_dependent_chain_cut_into_several_submissions_keeps_its_barriers_and_its_answer()
    {
        const int count = 4099;
        using GpuBuffer x = Context.Upload<float>(Enumerable.Repeat(1f, count).ToArray(), "x");
        using GpuBuffer one = Context.Upload<float>(Enumerable.Repeat(1f, count).ToArray(), "one");
        // 100 adds of 1 ms each under a 7 ms bound: 15 submissions (14 of 7 adds, then 2).
        SubmissionPlan plan = SubmissionPlan.Bounded(Enumerable.Repeat(("add", 1.0), 100).ToArray(), maxMilliseconds: 7);
        using CommandList commands = Context.CreateCommandList(plan: plan);
        for (int step = 0; step < 100; step++) BasicKernels.Add(commands, x.Whole, one.Whole, x.Whole);
        int submissionsBefore = Context.SubmissionCount;
        for (int run = 0; run < 2; run++) Context.Run(commands);
        Assert.Equal(15, commands.SubmissionCount);
        Assert.Equal(2 * 15, Context.SubmissionCount - submissionsBefore);
        // Each add still waits for the previous one, also across a cut: 1 + 2 x 100 everywhere.
        Assert.Equal(99, commands.BarrierCount);
        Assert.All(Context.Download<float>(x), value => Assert.Equal(201f, value));
    }
}
