using System.Globalization;
using Silk.NET.Core.Native;
using Silk.NET.Vulkan;

namespace VkDiffusion.Runtime.Vulkan;

/// <summary>One statistic of a compiled pipeline, named and described as the driver names it (RADV: "VGPRs", "Spilled VGPRs", ...).</summary>
public sealed record PipelineStatistic(string Name, string Description, double Value, string Text);

/// <summary>One executable of a pipeline (a compute pipeline has one per shader the driver made) and its statistics.</summary>
public sealed record PipelineExecutable(string Name, string Description, uint SubgroupSize, IReadOnlyList<PipelineStatistic> Statistics)
{
    /// <summary>The statistic the driver calls <paramref name="name"/>, or null when it reports none by that name.</summary>
    public PipelineStatistic? Find(string name) => Statistics.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));
}

/// <summary>
/// What building one kernel's pipeline gave: the driver's error, or its executables with their statistics (empty where the
/// driver offers no VK_KHR_pipeline_executable_properties). RequiredSubgroupSize: the size the pipeline was created at, where
/// it required one (cooperative-matrix kernels on devices that vary it).
/// </summary>
public sealed record PipelineBuild(Kernel Kernel, string? Error, uint? RequiredSubgroupSize, IReadOnlyList<PipelineExecutable> Executables)
{
    public bool Compiled => Error is null;
}

/// <summary>
/// VK_KHR_pipeline_executable_properties: a driver's own account of a compiled pipeline (on AMD's RADV: registers, spills,
/// scratch, LDS, waves per SIMD and ACO's latency estimates). Pipelines built with <see cref="CaptureFlag"/> report them.
/// </summary>
internal static unsafe class PipelineStatistics
{
    public const string Extension = "VK_KHR_pipeline_executable_properties";

    /// <summary>VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR.</summary>
    public const PipelineCreateFlags CaptureFlag = (PipelineCreateFlags)0x40;

    /// <summary>Whether the device lists the extension with its pipelineExecutableInfo feature.</summary>
    public static bool Offered(Vk vk, PhysicalDevice device)
    {
        if (!DeviceInfo.HasExtension(vk, device, Extension)) return false;
        var feature = new PhysicalDevicePipelineExecutablePropertiesFeaturesKHR { SType = StructureType.PhysicalDevicePipelineExecutablePropertiesFeaturesKhr };
        var features2 = new PhysicalDeviceFeatures2 { SType = StructureType.PhysicalDeviceFeatures2, PNext = &feature };
        vk.GetPhysicalDeviceFeatures2(device, &features2);
        return feature.PipelineExecutableInfo;
    }

    /// <summary>The executables of <paramref name="pipeline"/>, built with <see cref="CaptureFlag"/>, and their statistics.</summary>
    public static IReadOnlyList<PipelineExecutable> Read(GpuContext context, Pipeline pipeline)
    {
        var getProperties = (delegate* unmanaged<Device, PipelineInfoKHR*, uint*, PipelineExecutablePropertiesKHR*, Result>)
            context.Api.GetDeviceProcAddr(context.Device, "vkGetPipelineExecutablePropertiesKHR").Handle;
        var getStatistics = (delegate* unmanaged<Device, PipelineExecutableInfoKHR*, uint*, PipelineExecutableStatisticKHR*, Result>)
            context.Api.GetDeviceProcAddr(context.Device, "vkGetPipelineExecutableStatisticsKHR").Handle;
        if (getProperties == null || getStatistics == null) return [];

        var pipelineInfo = new PipelineInfoKHR { SType = StructureType.PipelineInfoKhr, Pipeline = pipeline };
        uint executableCount = 0;
        VulkanResult.Check(getProperties(context.Device, &pipelineInfo, &executableCount, null), "vkGetPipelineExecutablePropertiesKHR");
        var executables = new PipelineExecutablePropertiesKHR[executableCount];
        for (int index = 0; index < executables.Length; index++) executables[index].SType = StructureType.PipelineExecutablePropertiesKhr;
        fixed (PipelineExecutablePropertiesKHR* pointer = executables)
            VulkanResult.Check(getProperties(context.Device, &pipelineInfo, &executableCount, pointer), "vkGetPipelineExecutablePropertiesKHR");

        var result = new List<PipelineExecutable>();
        for (uint index = 0; index < executableCount; index++)
        {
            var executableInfo = new PipelineExecutableInfoKHR { SType = StructureType.PipelineExecutableInfoKhr, Pipeline = pipeline, ExecutableIndex = index };
            uint statisticCount = 0;
            VulkanResult.Check(getStatistics(context.Device, &executableInfo, &statisticCount, null), "vkGetPipelineExecutableStatisticsKHR");
            var statistics = new PipelineExecutableStatisticKHR[statisticCount];
            for (int at = 0; at < statistics.Length; at++) statistics[at].SType = StructureType.PipelineExecutableStatisticKhr;
            fixed (PipelineExecutableStatisticKHR* pointer = statistics)
                VulkanResult.Check(getStatistics(context.Device, &executableInfo, &statisticCount, pointer), "vkGetPipelineExecutableStatisticsKHR");
            PipelineExecutablePropertiesKHR executable = executables[index];
            result.Add(new PipelineExecutable(Text(executable.Name), Text(executable.Description), executable.SubgroupSize,
                statistics.Take((int)statisticCount).Select(Statistic).ToList()));
        }
        return result;
    }

    private static PipelineStatistic Statistic(PipelineExecutableStatisticKHR statistic)
    {
        double value = statistic.Format switch
        {
            PipelineExecutableStatisticFormatKHR.Bool32Khr => (bool)statistic.Value.B32 ? 1 : 0,
            PipelineExecutableStatisticFormatKHR.Int64Khr => statistic.Value.I64,
            PipelineExecutableStatisticFormatKHR.Uint64Khr => statistic.Value.U64,
            _ => statistic.Value.F64,
        };
        string text = statistic.Format == PipelineExecutableStatisticFormatKHR.Float64Khr
            ? value.ToString("G6", CultureInfo.InvariantCulture)
            : value.ToString("0", CultureInfo.InvariantCulture);
        return new PipelineStatistic(Text(statistic.Name), Text(statistic.Description), value, text);
    }

    private static string Text(byte* characters) => SilkMarshal.PtrToString((nint)characters) ?? "";
}
