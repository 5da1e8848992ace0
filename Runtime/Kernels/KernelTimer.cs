using System.Diagnostics;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>
/// Times recorded GPU work: the median over repetitions of the device time (timestamp queries around
/// every dispatch, summed per repetition), or of the wall time per repetition where the device has no
/// timestamps. A first unmeasured run pays pipeline compilation and first-touch costs.
/// </summary>
public static class KernelTimer
{
    /// <summary>Median milliseconds of one repetition of <paramref name="record"/>, after one unmeasured run when <paramref name="warmUp"/>.</summary>
    public static double MedianMilliseconds(GpuContext context, Action<CommandList> record, int repetitions, bool warmUp = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(repetitions, 1);
        if (warmUp) context.Execute(record);
        var perRepetition = new double[repetitions];
        if (context.Info.Timestamps)
        {
            using CommandList commands = context.CreateCommandList(profile: true, maxProfiledCommands: 16384);
            var boundaries = new List<int> { 0 };
            for (int repetition = 0; repetition < repetitions; repetition++)
            {
                record(commands);
                boundaries.Add(commands.Labels.Count);
            }
            context.Run(commands);
            var timings = commands.ReadTimings();
            for (int repetition = 0; repetition < repetitions; repetition++)
                for (int command = boundaries[repetition]; command < boundaries[repetition + 1]; command++)
                    perRepetition[repetition] += timings[command].Milliseconds;
        }
        else
        {
            using CommandList commands = context.CreateCommandList();
            record(commands);
            commands.End();
            for (int repetition = 0; repetition < repetitions; repetition++)
            {
                long start = Stopwatch.GetTimestamp();
                context.Run(commands);
                perRepetition[repetition] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
        }
        Array.Sort(perRepetition);
        return perRepetition[repetitions / 2];
    }
}
