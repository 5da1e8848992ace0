using Silk.NET.Vulkan;

namespace VkDiffusion.Runtime.Vulkan;

/// <summary>
/// A VkPipelineCache loaded from and saved to the user's cache directory, one file per device UUID
/// and driver version. A file whose header does not match this device, or that the driver rejects,
/// is ignored and rewritten. VKDIFF_PIPELINE_CACHE=0 turns it off.
/// </summary>
internal sealed unsafe class PipelineCacheStore : IDisposable
{
    private readonly GpuContext context;
    public PipelineCache Handle { get; }
    public string? FilePath { get; }

    public PipelineCacheStore(GpuContext context)
    {
        this.context = context;
        if (Environment.GetEnvironmentVariable("VKDIFF_PIPELINE_CACHE") != "0")
            FilePath = Path.Combine(CacheLocation.Directory(), $"pipelines-{context.Info.DeviceUuid}-{context.Info.RawDriverVersion:x8}.bin");
        byte[] initial = FilePath is not null && File.Exists(FilePath) ? TryRead(FilePath) : [];
        if (!HeaderMatches(initial)) initial = [];
        PipelineCache handle = Create(initial);
        if (handle.Handle == 0 && initial.Length > 0) handle = Create([]);
        if (handle.Handle == 0) throw new VkDiffusionException("vkCreatePipelineCache failed even with an empty cache.");
        Handle = handle;
    }

    private static byte[] TryRead(string path)
    {
        try { return File.ReadAllBytes(path); }
        catch (IOException) { return []; }
        catch (UnauthorizedAccessException) { return []; }
    }

    // Header (Vulkan spec, VkPipelineCacheHeaderVersionOne): length, version 1, vendorID, deviceID, pipelineCacheUUID.
    private bool HeaderMatches(byte[] data)
    {
        if (data.Length < 32) return false;
        uint length = BitConverter.ToUInt32(data, 0);
        uint version = BitConverter.ToUInt32(data, 4);
        uint vendor = BitConverter.ToUInt32(data, 8);
        uint device = BitConverter.ToUInt32(data, 12);
        if (length < 32 || version != 1 || vendor != context.Info.VendorId || device != context.Info.DeviceId) return false;
        PhysicalDeviceProperties properties;
        context.Api.GetPhysicalDeviceProperties(context.PhysicalDevice, &properties);
        return new ReadOnlySpan<byte>(properties.PipelineCacheUuid, 16).SequenceEqual(data.AsSpan(16, 16));
    }

    private PipelineCache Create(byte[] initial)
    {
        fixed (byte* pointer = initial)
        {
            var info = new PipelineCacheCreateInfo
            {
                SType = StructureType.PipelineCacheCreateInfo,
                InitialDataSize = (nuint)initial.Length,
                PInitialData = initial.Length > 0 ? pointer : null,
            };
            PipelineCache cache;
            return context.Api.CreatePipelineCache(context.Device, &info, null, &cache) == Result.Success ? cache : default;
        }
    }

    private void Save()
    {
        if (FilePath is null) return;
        nuint size = 0;
        if (context.Api.GetPipelineCacheData(context.Device, Handle, &size, null) != Result.Success || size == 0) return;
        var data = new byte[size];
        fixed (byte* pointer = data)
            if (context.Api.GetPipelineCacheData(context.Device, Handle, &size, pointer) != Result.Success) return;
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(FilePath)!);
            string temporary = $"{FilePath}.{Environment.ProcessId}.tmp";
            File.WriteAllBytes(temporary, data.AsSpan(0, (int)size).ToArray());
            File.Move(temporary, FilePath, overwrite: true);
        }
        catch (IOException) { /* a read-only or full cache directory only costs compile time next run */ }
        catch (UnauthorizedAccessException) { }
    }

    public void Dispose()
    {
        Save();
        context.Api.DestroyPipelineCache(context.Device, Handle, null);
    }
}
