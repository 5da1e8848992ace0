using System.Runtime.InteropServices;
using Silk.NET.Core.Native;
using Silk.NET.Vulkan;

namespace VkDiffusion.Runtime.Vulkan;

/// <summary>
/// One logical device with one compute queue: its memory, its kernels, and submission. Everything the
/// rest of VkDiffusion does on a GPU goes through a context.
/// </summary>
public sealed unsafe class GpuContext : IDisposable
{
    private readonly VulkanInstance instance;
    private readonly bool ownsInstance;
    private readonly HashSet<CommandList> pending = [];
    private readonly object submitGate = new();
    private bool disposed;

    public Vk Api => instance.Api;
    public DeviceInfo Info { get; }
    public PhysicalDevice PhysicalDevice { get; }
    public Device Device { get; }
    public Queue Queue { get; }
    public uint QueueFamily { get; }
    internal CommandPool CommandPool { get; }
    public GpuMemory Memory { get; }
    public KernelCache Kernels { get; }
    /// <summary>Validation messages, when the validation layer is on; null otherwise.</summary>
    public ValidationLog? Validation => instance.Validation;
    internal GpuBuffer DummyBuffer { get; }
    /// <summary>Whether VK_KHR_cooperative_matrix is enabled: listed, on a Vulkan 1.3 device with maintenance4 and the memory model.</summary>
    public bool CooperativeMatrixEnabled { get; }
    public int SubmissionCount { get; private set; }
    /// <summary>Whether VK_EXT_device_fault is enabled, so a lost device can say why (<see cref="DeviceFaults"/>).</summary>
    internal bool DeviceFaultEnabled { get; }
    /// <summary>Whether VK_KHR_portability_subset is enabled: the device (MoltenVK) implements Vulkan on top of another API.</summary>
    public bool PortabilitySubset { get; }
    /// <summary>
    /// Whether this context only builds pipelines (<see cref="CreateCompileOnly"/>): memory is address ranges with no
    /// device memory behind them, command lists keep the kernels they would dispatch, and nothing runs.
    /// </summary>
    public bool CompileOnly { get; }
    /// <summary>Whether VK_KHR_pipeline_executable_properties is enabled (compile-only contexts, where the device lists it).</summary>
    public bool PipelineStatisticsEnabled { get; }

    /// <summary>
    /// Opens the device chosen by <paramref name="deviceSelector"/> (index or name substring; else
    /// VKDIFF_DEVICE; else the best device). Validation is on when asked or when VKDIFF_VALIDATION=1. Extra layers
    /// come from VKDIFF_LAYERS. The device's quirks (<see cref="DeviceQuirks"/>) are applied.
    /// </summary>
    public static GpuContext Create(string? deviceSelector = null, bool? validation = null) => Open(deviceSelector, validation, compileOnly: false);

    /// <summary>
    /// Opens a device only to build pipelines, with the driver's statistics where it offers them: nothing is allocated,
    /// so it works on devices without memory (RADV's null hardware) as on any other. The kernels' dispatchers record on
    /// it as usual; <see cref="KernelCache.Build"/> compiles what they asked for.
    /// </summary>
    public static GpuContext CreateCompileOnly(string? deviceSelector = null) => Open(deviceSelector, validation: null, compileOnly: true);

    private static GpuContext Open(string? deviceSelector, bool? validation, bool compileOnly)
    {
        var vulkan = new VulkanInstance(validation ?? VulkanInstance.ValidationRequestedByEnvironment);
        try
        {
            var (device, info) = DeviceSelector.Select(DeviceSelector.Enumerate(vulkan), deviceSelector);
            if (info.MissingMemory is string missing && !compileOnly)
                throw new InvalidInputException($"{info.Name} cannot hold vkdiff's tensors: {missing}. Choose another device with --device " +
                    $"or {DeviceSelector.EnvironmentVariable} (`vkdiff devices` lists them; `vkdiff kernels` builds pipelines on it).");
            DeviceQuirks.Apply(info, Console.Error);
            return new GpuContext(vulkan, ownsInstance: true, device, info, compileOnly);
        }
        catch
        {
            vulkan.Dispose();
            throw;
        }
    }

    private GpuContext(VulkanInstance instance, bool ownsInstance, PhysicalDevice physicalDevice, DeviceInfo info, bool compileOnly)
    {
        CompileOnly = compileOnly;
        this.instance = instance;
        this.ownsInstance = ownsInstance;
        PhysicalDevice = physicalDevice;
        Info = info;
        Vk vk = instance.Api;

        uint familyCount = 0;
        vk.GetPhysicalDeviceQueueFamilyProperties(physicalDevice, &familyCount, null);
        var families = new QueueFamilyProperties[familyCount];
        fixed (QueueFamilyProperties* pointer = families) vk.GetPhysicalDeviceQueueFamilyProperties(physicalDevice, &familyCount, pointer);
        int family = DeviceInfo.ChooseComputeQueueFamily(families);
        if (family < 0) throw new NoDeviceException($"{info.Name} has no compute queue.");
        QueueFamily = (uint)family;

        float priority = 1f;
        var queueInfo = new DeviceQueueCreateInfo
        {
            SType = StructureType.DeviceQueueCreateInfo,
            QueueFamilyIndex = QueueFamily,
            QueueCount = 1,
            PQueuePriorities = &priority,
        };
        // Enable exactly the optional features kernels may use and the device offers.
        var features11 = new PhysicalDeviceVulkan11Features
        {
            SType = StructureType.PhysicalDeviceVulkan11Features,
            StorageBuffer16BitAccess = info.StorageBuffer16Bit,
        };
        var features12 = new PhysicalDeviceVulkan12Features
        {
            SType = StructureType.PhysicalDeviceVulkan12Features,
            PNext = &features11,
            ShaderFloat16 = info.ShaderFloat16,
            ShaderSubgroupExtendedTypes = info.SubgroupExtendedTypes,
            VulkanMemoryModel = info.VulkanMemoryModel,
        };
        var features2 = new PhysicalDeviceFeatures2
        {
            SType = StructureType.PhysicalDeviceFeatures2,
            PNext = &features12,
            Features = new PhysicalDeviceFeatures { ShaderInt64 = info.ShaderInt64, ShaderInt16 = info.ShaderInt16 },
        };
        // Cooperative-matrix kernels are SPIR-V 1.6 on the Vulkan memory model: they need a Vulkan 1.3 device with
        // maintenance4 (their workgroup size is a LocalSizeId) and the memory model, as well as the extension.
        bool cooperativeMatrix = info.CooperativeMatrix && info.RawApiVersion >= Vk.Version13 && info.Maintenance4 && info.VulkanMemoryModel;
        var cooperativeMatrixFeatures = new PhysicalDeviceCooperativeMatrixFeaturesKHR
        {
            SType = (StructureType)1000506000, // VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR
            CooperativeMatrix = true,
        };
        var features13 = new PhysicalDeviceVulkan13Features
        {
            SType = StructureType.PhysicalDeviceVulkan13Features,
            PNext = cooperativeMatrix ? &cooperativeMatrixFeatures : null,
            Maintenance4 = info.Maintenance4,
            // Cooperative-matrix pipelines are created at a required subgroup size on devices that vary it (CooperativeMatrixSubgroup).
            SubgroupSizeControl = info.ComputeSubgroupSizeControl,
            ComputeFullSubgroups = info.ComputeSubgroupSizeControl,
        };
        if (info.RawApiVersion >= Vk.Version13) features11.PNext = &features13;
        // VK_KHR_portability_subset must be enabled where listed (MoltenVK); VK_EXT_device_fault where the device offers it.
        var deviceFault = new PhysicalDeviceFaultFeaturesEXT { SType = StructureType.PhysicalDeviceFaultFeaturesExt };
        bool deviceFaultListed = DeviceInfo.HasExtension(vk, physicalDevice, DeviceFaults.Extension);
        if (deviceFaultListed)
        {
            var query = new PhysicalDeviceFeatures2 { SType = StructureType.PhysicalDeviceFeatures2, PNext = &deviceFault };
            vk.GetPhysicalDeviceFeatures2(physicalDevice, &query);
            deviceFault.PNext = null;
        }
        bool enableDeviceFault = deviceFaultListed && deviceFault.DeviceFault && !compileOnly;
        if (enableDeviceFault)
        {
            deviceFault.DeviceFaultVendorBinary = false;
            deviceFault.PNext = features2.PNext;
            features2.PNext = &deviceFault;
        }
        PortabilitySubset = DeviceInfo.HasExtension(vk, physicalDevice, VulkanInstance.PortabilitySubsetExtension);
        var extensions = new List<string>();
        if (cooperativeMatrix) extensions.Add(DeviceInfo.CooperativeMatrixExtension);
        if (enableDeviceFault) extensions.Add(DeviceFaults.Extension);
        if (PortabilitySubset) extensions.Add(VulkanInstance.PortabilitySubsetExtension);
        // The driver's register, spill and occupancy figures (PipelineStatistics) are what a compile-only context is for.
        var executableProperties = new PhysicalDevicePipelineExecutablePropertiesFeaturesKHR
        {
            SType = StructureType.PhysicalDevicePipelineExecutablePropertiesFeaturesKhr,
            PNext = features2.PNext,
            PipelineExecutableInfo = true,
        };
        PipelineStatisticsEnabled = compileOnly && PipelineStatistics.Offered(vk, physicalDevice);
        if (PipelineStatisticsEnabled)
        {
            extensions.Add(PipelineStatistics.Extension);
            features2.PNext = &executableProperties;
        }
        byte** extensionNames = (byte**)SilkMarshal.StringArrayToPtr(extensions);
        var deviceInfo = new DeviceCreateInfo
        {
            SType = StructureType.DeviceCreateInfo,
            PNext = &features2,
            QueueCreateInfoCount = 1,
            PQueueCreateInfos = &queueInfo,
            EnabledExtensionCount = (uint)extensions.Count,
            PpEnabledExtensionNames = extensionNames,
        };
        Device device;
        try { VulkanResult.Check(vk.CreateDevice(physicalDevice, &deviceInfo, null, &device), "vkCreateDevice"); }
        finally { SilkMarshal.FreeString((nint)extensionNames); }
        DeviceFaultEnabled = enableDeviceFault;
        CooperativeMatrixEnabled = cooperativeMatrix;
        Device = device;
        Queue queue;
        vk.GetDeviceQueue(device, QueueFamily, 0, &queue);
        Queue = queue;
        Memory = new GpuMemory(this);
        Kernels = new KernelCache(this);
        // A compile-only context records nothing a queue would run, so it needs neither a command pool nor a real dummy binding.
        DummyBuffer = Memory.Allocate(256, "unused-binding");
        if (compileOnly) return;

        var poolInfo = new CommandPoolCreateInfo
        {
            SType = StructureType.CommandPoolCreateInfo,
            QueueFamilyIndex = QueueFamily,
            Flags = CommandPoolCreateFlags.ResetCommandBufferBit,
        };
        CommandPool pool;
        VulkanResult.Check(vk.CreateCommandPool(device, &poolInfo, null, &pool), "vkCreateCommandPool");
        CommandPool = pool;
    }

    /// <summary>Starts recording a command list; <paramref name="profile"/> adds timestamp queries per command.</summary>
    /// <param name="plan">Where the recording is cut into separate submissions (default: one submission).</param>
    public CommandList CreateCommandList(bool profile = false, int maxProfiledCommands = 4096, SubmissionPlan? plan = null) =>
        new(this, profile, maxProfiledCommands, plan ?? SubmissionPlan.Whole);

    /// <summary>
    /// Submits an ended command list, one queue submission per command buffer of its plan, and returns at
    /// once; <see cref="Wait"/> blocks until it finishes. <paramref name="prelude"/>, a one-buffer list
    /// such as copies of the step's inputs, runs first within the first submission and completes with it.
    /// </summary>
    public void Submit(CommandList commands, CommandList? prelude = null)
    {
        if (!commands.IsEnded) commands.End();
        if (prelude is not null && !prelude.IsEnded) prelude.End();
        if (prelude is { SubmissionCount: not 1 }) throw new ArgumentException("a prelude must be one command buffer", nameof(prelude));
        RequireExecution();
        lock (submitGate)
        {
            if (commands.Pending) Wait(commands);
            Fence fence = commands.Fence;
            VulkanResult.Check(Api.ResetFences(Device, 1, &fence), "vkResetFences");
            IReadOnlyList<CommandBuffer> handles = commands.Handles;
            var buffers = stackalloc CommandBuffer[2];
            for (int index = 0; index < handles.Count; index++)
            {
                uint count = 0;
                if (index == 0 && prelude is not null) buffers[count++] = prelude.Handles[0];
                buffers[count++] = handles[index];
                var submit = new SubmitInfo
                {
                    SType = StructureType.SubmitInfo,
                    CommandBufferCount = count,
                    PCommandBuffers = buffers,
                };
                // The fence of the last submission also covers every earlier submission on the queue.
                VulkanResult.Check(Api.QueueSubmit(Queue, 1, &submit, index == handles.Count - 1 ? fence : default), "vkQueueSubmit");
                SubmissionCount++;
            }
            commands.Pending = true;
            pending.Add(commands);
        }
    }

    /// <summary>True while a submitted command list has not finished (without waiting for it).</summary>
    public bool IsRunning(CommandList commands)
    {
        lock (submitGate)
        {
            if (!commands.Pending || FailedReason is not null) return false;
            Result status = Api.GetFenceStatus(Device, commands.Fence);
            if (status == Result.NotReady) return true;
            VulkanResult.Check(status, "vkGetFenceStatus");
            return false;
        }
    }

    /// <summary>
    /// How long a wait for a submission may take before vkdiff calls the device hung (seconds; default
    /// <see cref="DefaultFenceTimeoutSeconds"/>). A step far slower than that (a huge model on a CPU device) needs more.
    /// </summary>
    public const string FenceTimeoutVariable = "VKDIFF_FENCE_TIMEOUT_S";
    public const double DefaultFenceTimeoutSeconds = 600;

    // Read once: a malformed value is refused when the context opens, not inside a wait with a submission in flight.
    private readonly ulong fenceTimeoutNanoseconds = FenceTimeoutNanoseconds();

    /// <summary>Why the device can no longer run anything (lost, or hung past the deadline); null while it works.</summary>
    public string? FailedReason { get; private set; }

    /// <summary>
    /// Blocks until <paramref name="commands"/> has finished, at most the fence deadline. A device that is lost, or that
    /// has not finished by the deadline, ends the wait with <see cref="DeviceLostException"/> naming the kernels of the
    /// submission in flight; after that every wait returns at once (nothing more will finish), and disposal leaves the
    /// device's objects to the process's exit rather than waiting on a device that will not answer.
    /// </summary>
    public void Wait(CommandList commands)
    {
        lock (submitGate)
        {
            if (!commands.Pending) return;
            commands.Pending = false;
            pending.Remove(commands);
            if (FailedReason is not null) return;
            Fence fence = commands.Fence;
            Result result = Api.WaitForFences(Device, 1, &fence, true, fenceTimeoutNanoseconds);
            if (result == Result.Success) return;
            if (result != Result.Timeout && result != Result.ErrorDeviceLost) VulkanResult.Check(result, "vkWaitForFences");
            FailedReason = result == Result.Timeout
                ? $"{Info.Name} did not finish a submission within {fenceTimeoutNanoseconds / 1e9:G3} s ({FenceTimeoutVariable}): it hung"
                : $"the Vulkan device {Info.Name} was lost (a driver reset, a kernel that ran too long, or a driver bug)";
            throw new DeviceLostException($"{FailedReason}, running {DescribeKernels(commands.DispatchedKernels.Select(kernel => kernel.Name).Distinct().ToList())}.{DeviceFaults.Describe(this)} " +
                "Checkpoints already written are kept. Re-run with VKDIFF_VALIDATION=1; if it persists, attach `vkdiff selftest --isolate` " +
                $"to a bug report (docs/porting.md). A slow device rather than a hung one: raise {FenceTimeoutVariable}.", stillRunning: true);
        }
    }

    private static ulong FenceTimeoutNanoseconds()
    {
        string? text = Environment.GetEnvironmentVariable(FenceTimeoutVariable)?.Trim();
        if (string.IsNullOrEmpty(text)) return (ulong)(DefaultFenceTimeoutSeconds * 1e9);
        if (!double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double seconds)
            || !(seconds > 0) || seconds > 1e9)
            throw new InvalidInputException($"{FenceTimeoutVariable}={text} is not a number of seconds above 0.");
        return (ulong)(seconds * 1e9);
    }

    private static string DescribeKernels(IReadOnlyList<string> names)
    {
        const int shown = 8;
        if (names.Count == 0) return "copies only";
        string listed = string.Join(", ", names.Take(shown));
        return names.Count > shown ? $"{listed} and {names.Count - shown} more kernels" : listed;
    }

    /// <summary>Submits and waits.</summary>
    public void Run(CommandList commands)
    {
        Submit(commands);
        Wait(commands);
    }

    /// <summary>Records with <paramref name="record"/>, runs once, waits, and frees the command list.</summary>
    public void Execute(Action<CommandList> record)
    {
        using CommandList commands = CreateCommandList();
        record(commands);
        Run(commands);
    }

    /// <summary>Blocks until every submitted command list has finished.</summary>
    public void WaitForSubmittedWork()
    {
        lock (submitGate)
            foreach (CommandList commands in pending.ToList()) Wait(commands);
    }

    public GpuBuffer Allocate<T>(long count, string name, MemoryKind kind = MemoryKind.DeviceLocal) where T : unmanaged =>
        Memory.Allocate(count * sizeof(T), name, kind);

    /// <summary>Allocates a device buffer and fills it with <paramref name="values"/>.</summary>
    public GpuBuffer Upload<T>(ReadOnlySpan<T> values, string name) where T : unmanaged
    {
        GpuBuffer buffer = Allocate<T>(Math.Max(1, values.Length), name);
        Upload(buffer.Whole.Slice(0, values.Length * sizeof(T)), values);
        return buffer;
    }

    /// <summary>Copies host values into a buffer range; waits for submitted work first.</summary>
    public void Upload<T>(BufferSlice destination, ReadOnlySpan<T> values) where T : unmanaged
    {
        ReadOnlySpan<byte> bytes = MemoryMarshal.AsBytes(values);
        if (bytes.Length > destination.Length)
            throw new ArgumentException($"uploading {bytes.Length} bytes into {destination}, which holds {destination.Length}");
        if (bytes.Length == 0) return;
        RequireExecution();
        WaitForSubmittedWork();
        if (destination.Buffer.IsHostVisible)
        {
            bytes.CopyTo(new Span<byte>((byte*)destination.Buffer.Block.MappedPointer + destination.AbsoluteOffset, bytes.Length));
            return;
        }
        using GpuBuffer staging = Memory.Allocate(bytes.Length, "upload-staging", MemoryKind.HostVisible);
        bytes.CopyTo(new Span<byte>((byte*)staging.Block.MappedPointer + staging.BlockOffset, bytes.Length));
        int length = bytes.Length;
        Execute(commands => commands.Copy(staging.Whole.Slice(0, length), destination.Slice(0, length)));
    }

    public T[] Download<T>(GpuBuffer buffer) where T : unmanaged => Download<T>(buffer.Whole);

    /// <summary>Copies a buffer range to the host; waits for submitted work first.</summary>
    public T[] Download<T>(BufferSlice source) where T : unmanaged
    {
        var values = new T[source.Length / sizeof(T)];
        Download(source.Slice(0, values.Length * sizeof(T)), values.AsSpan());
        return values;
    }

    public void Download<T>(BufferSlice source, Span<T> values) where T : unmanaged
    {
        Span<byte> bytes = MemoryMarshal.AsBytes(values);
        if (bytes.Length > source.Length) throw new ArgumentException($"downloading {bytes.Length} bytes from {source}, which holds {source.Length}");
        if (bytes.Length == 0) return;
        RequireExecution();
        WaitForSubmittedWork();
        if (source.Buffer.IsHostVisible)
        {
            new ReadOnlySpan<byte>((byte*)source.Buffer.Block.MappedPointer + source.AbsoluteOffset, bytes.Length).CopyTo(bytes);
            return;
        }
        using GpuBuffer staging = Memory.Allocate(bytes.Length, "download-staging", MemoryKind.HostVisible);
        int length = bytes.Length;
        Execute(commands => commands.Copy(source.Slice(0, length), staging.Whole.Slice(0, length)));
        new ReadOnlySpan<byte>((byte*)staging.Block.MappedPointer + staging.BlockOffset, bytes.Length).CopyTo(bytes);
    }

    /// <summary>Pointer to a host-visible buffer's bytes, for values the host rewrites between submissions.</summary>
    public static nint HostPointer(BufferSlice slice)
    {
        if (!slice.Buffer.IsHostVisible) throw new InvalidOperationException($"{slice.Buffer.Name} is not host-visible");
        return slice.Buffer.Block.MappedPointer + (nint)slice.AbsoluteOffset;
    }

    // A compile-only context's buffers have no memory behind them, and its command lists no command buffers.
    private void RequireExecution()
    {
        if (CompileOnly) throw new InvalidOperationException($"{Info.Name} was opened compile-only: it builds pipelines and runs nothing");
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        // Every submission is waited for under the fence deadline first. A lost or hung device may never go idle, and
        // destroying what it may still be running is undefined: the process's exit reclaims it all. A compile-only context
        // submitted nothing, and RADV's null hardware crashes in vkDeviceWaitIdle.
        try { WaitForSubmittedWork(); }
        catch (DeviceLostException) { }
        if (FailedReason is not null) return;
        if (!CompileOnly) Api.DeviceWaitIdle(Device);
        pending.Clear();
        Kernels.Dispose();
        Memory.Dispose();
        Api.DestroyCommandPool(Device, CommandPool, null);
        Api.DestroyDevice(Device, null);
        if (ownsInstance) instance.Dispose();
    }
}
