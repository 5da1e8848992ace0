using System.Reflection;
using Silk.NET.Vulkan;

namespace VkDiffusion.Runtime.Vulkan;

/// <summary>
/// Builds compute pipelines lazily from the SPIR-V embedded at build time. Every kernel shares one
/// descriptor-set layout and one 128-byte push-constant range. Specialization constant i is the i-th
/// uint given. A VkPipelineCache persists across runs.
/// The layout: slot s (the s-th binding a dispatch passes) is the storage buffer at binding s, or, for
/// the first <see cref="TexelBindingCount"/> slots when the binding asks for texels, the R32_SFLOAT or
/// R32G32B32A32_SFLOAT uniform texel buffer at binding <see cref="BindingCount"/> + s. CPU drivers (lavapipe) fetch texels
/// for all SIMD lanes with one vector gather, where a storage-buffer load with lane-varying addresses
/// becomes a scalar loop over the lanes.
/// </summary>
public sealed unsafe class KernelCache : IDisposable
{
    public const int BindingCount = 8;
    public const int TexelBindingCount = 3;
    public const int PushConstantBytes = 128;

    private readonly GpuContext context;
    private readonly Dictionary<string, Kernel> kernels = [];
    private readonly Dictionary<string, ShaderModule> modules = [];
    // None on a compile-only context: every build is the driver's own compile, and nothing is written to the user's cache.
    private readonly PipelineCacheStore? cacheStore;
    private readonly object gate = new();

    private readonly HashSet<string> cooperativeMatrixModules = [];
    private readonly HashSet<string> shuffleModules = [];

    /// <summary>
    /// Whether pipelines of kernels that use cooperative matrices are created at the required subgroup size
    /// (<see cref="CooperativeMatrixSubgroup"/>): on devices that vary their size. Tests set it on a fresh context to run
    /// that creation path on a device with one size.
    /// </summary>
    internal bool RequireCooperativeMatrixSubgroupSize { get; set; }

    /// <summary>
    /// The widest cluster of consecutive lanes a kernel that uses subgroup shuffles adds across (the split-row attention
    /// kernels: 8). Each cluster must lie in one subgroup.
    /// </summary>
    public const uint ShuffleClusterLanes = 8;

    /// <summary>
    /// Whether pipelines of kernels that use subgroup shuffles are created at the device's reported subgroup size, required,
    /// with full subgroups (<see cref="RequiresShuffleSubgroupSize"/>). Tests set it on a fresh context to run that creation
    /// path on a device with one size.
    /// </summary>
    internal bool RequireShuffleSubgroupSize { get; set; }

    /// <summary>
    /// Whether this device gets the shuffle kernels' pipelines created at its reported subgroup size: where it may run
    /// subgroups smaller than <see cref="ShuffleClusterLanes"/> and can fix the size (subgroupSizeControl with full
    /// subgroups). Elsewhere the driver keeps its choice: a device whose smallest size holds a cluster needs no more, and
    /// a fixed size would only cost registers (a 32-wide Intel dispatch has a quarter of the 8-wide one's per lane).
    /// </summary>
    public static bool RequiresShuffleSubgroupSize(DeviceInfo device) =>
        device.MinSubgroupSize < ShuffleClusterLanes && CooperativeMatrixSubgroup.For(device, out _) is { Required: true };

    internal DescriptorSetLayout SetLayout { get; }
    internal PipelineLayout PipelineLayout { get; }

    /// <summary>Names of every kernel compiled into this build.</summary>
    public static IReadOnlyList<string> AvailableKernels => ShaderIndex.KernelNames;

    private static readonly Lazy<string> shaderSetHash = new(() =>
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (string name in ShaderIndex.KernelNames.Order(StringComparer.Ordinal))
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(name + "\n"));
            hash.AppendData(LoadSpirv(name));
        }
        return Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant()[..16];
    });

    /// <summary>
    /// A fingerprint of every kernel's SPIR-V in this build (SHA-256 of names and code, 16 hex digits): measurements of
    /// kernels, such as `vkdiff tune`'s, hold only for the build whose fingerprint they carry.
    /// </summary>
    public static string ShaderSetHash => shaderSetHash.Value;

    internal KernelCache(GpuContext context)
    {
        this.context = context;
        Vk vk = context.Api;
        var bindings = stackalloc DescriptorSetLayoutBinding[BindingCount + TexelBindingCount];
        for (int binding = 0; binding < BindingCount + TexelBindingCount; binding++)
            bindings[binding] = new DescriptorSetLayoutBinding
            {
                Binding = (uint)binding,
                DescriptorType = binding < BindingCount ? DescriptorType.StorageBuffer : DescriptorType.UniformTexelBuffer,
                DescriptorCount = 1,
                StageFlags = ShaderStageFlags.ComputeBit,
            };
        var layoutInfo = new DescriptorSetLayoutCreateInfo
        {
            SType = StructureType.DescriptorSetLayoutCreateInfo,
            BindingCount = BindingCount + TexelBindingCount,
            PBindings = bindings,
        };
        DescriptorSetLayout setLayout;
        VulkanResult.Check(vk.CreateDescriptorSetLayout(context.Device, &layoutInfo, null, &setLayout), "vkCreateDescriptorSetLayout");
        SetLayout = setLayout;
        var pushRange = new PushConstantRange { StageFlags = ShaderStageFlags.ComputeBit, Offset = 0, Size = PushConstantBytes };
        var pipelineLayoutInfo = new PipelineLayoutCreateInfo
        {
            SType = StructureType.PipelineLayoutCreateInfo,
            SetLayoutCount = 1,
            PSetLayouts = &setLayout,
            PushConstantRangeCount = 1,
            PPushConstantRanges = &pushRange,
        };
        PipelineLayout pipelineLayout;
        VulkanResult.Check(vk.CreatePipelineLayout(context.Device, &pipelineLayoutInfo, null, &pipelineLayout), "vkCreatePipelineLayout");
        PipelineLayout = pipelineLayout;
        cacheStore = context.CompileOnly ? null : new PipelineCacheStore(context);
        RequireCooperativeMatrixSubgroupSize = CooperativeMatrixSubgroup.For(context.Info, out _)?.Required ?? false;
        RequireShuffleSubgroupSize = RequiresShuffleSubgroupSize(context.Info);
    }

    /// <summary>
    /// The pipeline for kernel <paramref name="name"/> with these specialization constants. On a compile-only context the
    /// kernel has no pipeline yet: <see cref="Build"/> compiles it, so a recording names every kernel even where the driver
    /// refuses one.
    /// </summary>
    public Kernel Get(string name, params uint[] specialization)
    {
        string key = specialization.Length == 0 ? name : $"{name}<{string.Join(',', specialization)}>";
        lock (gate)
        {
            if (kernels.TryGetValue(key, out Kernel? existing)) return existing;
            // A name no build compiled fails here, on a compile-only context too.
            if (context.CompileOnly) GetModule(name);
            Kernel created = new(name, (uint[])specialization.Clone(), context.CompileOnly ? default : CreatePipeline(name, specialization, 0));
            kernels[key] = created;
            return created;
        }
    }

    /// <summary>
    /// Compiles <paramref name="kernel"/> as <see cref="Get"/> would, with the driver's statistics where the context enabled
    /// them, and destroys the pipeline again: the driver's error, or what it says the pipeline costs.
    /// </summary>
    public PipelineBuild Build(Kernel kernel)
    {
        lock (gate)
        {
            uint? requiredSubgroupSize = RequiresSubgroupSize(kernel.Name) ? context.Info.SubgroupSize : null;
            Pipeline pipeline;
            try
            {
                pipeline = CreatePipeline(kernel.Name, [.. kernel.Specialization],
                    context.PipelineStatisticsEnabled ? PipelineStatistics.CaptureFlag : 0);
            }
            catch (VkDiffusionException error)
            {
                return new PipelineBuild(kernel, error.Message, requiredSubgroupSize, []);
            }
            try
            {
                IReadOnlyList<PipelineExecutable> executables = context.PipelineStatisticsEnabled ? PipelineStatistics.Read(context, pipeline) : [];
                return new PipelineBuild(kernel, null, requiredSubgroupSize, executables);
            }
            finally
            {
                context.Api.DestroyPipeline(context.Device, pipeline, null);
            }
        }
    }

    private bool RequiresSubgroupSize(string name)
    {
        GetModule(name);
        return (RequireCooperativeMatrixSubgroupSize && cooperativeMatrixModules.Contains(name))
            || (RequireShuffleSubgroupSize && shuffleModules.Contains(name));
    }

    private Pipeline CreatePipeline(string name, uint[] specialization, PipelineCreateFlags flags)
    {
        ShaderModule module = GetModule(name);
        bool requireSubgroupSize = RequiresSubgroupSize(name);
        var requiredSubgroupSize = new PipelineShaderStageRequiredSubgroupSizeCreateInfo
        {
            SType = StructureType.PipelineShaderStageRequiredSubgroupSizeCreateInfo,
            RequiredSubgroupSize = context.Info.SubgroupSize,
        };
        var entries = stackalloc SpecializationMapEntry[Math.Max(1, specialization.Length)];
        for (int i = 0; i < specialization.Length; i++)
            entries[i] = new SpecializationMapEntry { ConstantID = (uint)i, Offset = (uint)(i * 4), Size = 4 };
        byte* entryPoint = stackalloc byte[] { (byte)'m', (byte)'a', (byte)'i', (byte)'n', 0 };
        fixed (uint* values = specialization)
        {
            var specializationInfo = new SpecializationInfo
            {
                MapEntryCount = (uint)specialization.Length,
                PMapEntries = entries,
                DataSize = (nuint)(specialization.Length * 4),
                PData = values,
            };
            var createInfo = new ComputePipelineCreateInfo
            {
                SType = StructureType.ComputePipelineCreateInfo,
                Stage = new PipelineShaderStageCreateInfo
                {
                    SType = StructureType.PipelineShaderStageCreateInfo,
                    PNext = requireSubgroupSize ? &requiredSubgroupSize : null,
                    Flags = requireSubgroupSize ? PipelineShaderStageCreateFlags.RequireFullSubgroupsBit : 0,
                    Stage = ShaderStageFlags.ComputeBit,
                    Module = module,
                    PName = entryPoint,
                    PSpecializationInfo = specialization.Length > 0 ? &specializationInfo : null,
                },
                Flags = flags,
                Layout = PipelineLayout,
            };
            Pipeline pipeline;
            VulkanResult.Check(context.Api.CreateComputePipelines(context.Device, cacheStore?.Handle ?? default, 1, &createInfo, null, &pipeline),
                $"vkCreateComputePipelines({name})");
            return pipeline;
        }
    }

    private ShaderModule GetModule(string name)
    {
        if (modules.TryGetValue(name, out ShaderModule existing)) return existing;
        byte[] code = LoadSpirv(name);
        fixed (byte* pointer = code)
        {
            var createInfo = new ShaderModuleCreateInfo
            {
                SType = StructureType.ShaderModuleCreateInfo,
                CodeSize = (nuint)code.Length,
                PCode = (uint*)pointer,
            };
            ShaderModule module;
            VulkanResult.Check(context.Api.CreateShaderModule(context.Device, &createInfo, null, &module), $"vkCreateShaderModule({name})");
            modules[name] = module;
            if (DeclaresCapability(code, CooperativeMatrixCapability)) cooperativeMatrixModules.Add(name);
            if (DeclaresCapability(code, GroupNonUniformShuffleCapability)) shuffleModules.Add(name);
            return module;
        }
    }

    private const uint CooperativeMatrixCapability = 6022, GroupNonUniformShuffleCapability = 65;

    // Whether the SPIR-V declares OpCapability `capability`. Capabilities come first after the 5-word header; each
    // instruction's first word is (word count << 16) | opcode.
    private static bool DeclaresCapability(byte[] code, uint capability)
    {
        const uint OpCapability = 17;
        ReadOnlySpan<uint> words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(code);
        for (int at = 5; at < words.Length && (words[at] & 0xffff) == OpCapability; at += (int)(words[at] >> 16))
            if (words[at + 1] == capability) return true;
        return false;
    }

    internal static byte[] LoadSpirv(string name)
    {
        using Stream? stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"spv/{name}.spv");
        if (stream is null)
            throw new KeyNotFoundException($"No kernel named '{name}' was compiled into this build. Known kernels: {string.Join(", ", ShaderIndex.KernelNames)}.");
        var code = new byte[stream.Length];
        stream.ReadExactly(code);
        return code;
    }

    public void Dispose()
    {
        Vk vk = context.Api;
        foreach (Kernel kernel in kernels.Values) vk.DestroyPipeline(context.Device, kernel.Pipeline, null);
        foreach (ShaderModule module in modules.Values) vk.DestroyShaderModule(context.Device, module, null);
        kernels.Clear();
        modules.Clear();
        cacheStore?.Dispose();
        vk.DestroyPipelineLayout(context.Device, PipelineLayout, null);
        vk.DestroyDescriptorSetLayout(context.Device, SetLayout, null);
    }
}
