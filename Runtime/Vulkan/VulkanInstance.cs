using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Silk.NET.Core.Native;
using Silk.NET.Vulkan;

namespace VkDiffusion.Runtime.Vulkan;

/// <summary>
/// The Vulkan loader and one instance, optionally with VK_LAYER_KHRONOS_validation and a debug
/// messenger that records every warning and error in <see cref="Validation"/>.
/// </summary>
public sealed unsafe class VulkanInstance : IDisposable
{
    private const string ValidationLayerName = "VK_LAYER_KHRONOS_validation";
    private const string DebugUtilsExtensionName = "VK_EXT_debug_utils";
    /// <summary>
    /// Since loader 1.3.216, implementations layered on another API (MoltenVK on Metal) are listed only to instances
    /// that enable this extension with the ENUMERATE_PORTABILITY flag; without it macOS shows no device at all.
    /// </summary>
    public const string PortabilityEnumerationExtension = "VK_KHR_portability_enumeration";
    /// <summary>What such an implementation lists on its devices; a device that lists it must have it enabled.</summary>
    public const string PortabilitySubsetExtension = "VK_KHR_portability_subset";

    public Vk Api { get; }
    public Instance Handle { get; }
    public ValidationLog? Validation { get; }
    /// <summary>Whether the loader listed VK_KHR_portability_enumeration, so the instance enabled it (and sees portability devices).</summary>
    public bool PortabilityEnumeration { get; }
    private readonly DebugUtilsMessengerEXT messenger;
    private GCHandle validationHandle;
    private bool disposed;

    /// <summary>Validation is on when asked for, or when VKDIFF_VALIDATION=1.</summary>
    public static bool ValidationRequestedByEnvironment => Environment.GetEnvironmentVariable("VKDIFF_VALIDATION") == "1";

    /// <summary>
    /// Comma-separated Vulkan layers to enable above the validation layer, e.g. one that emulates
    /// VK_KHR_cooperative_matrix on lavapipe (docs/porting.md). Unlike VK_INSTANCE_LAYERS, the layers sit above
    /// validation, so validation checks what they pass down to the driver.
    /// </summary>
    public const string LayersVariable = "VKDIFF_LAYERS";

    /// <param name="enableValidation">Turns on the Khronos validation layer.</param>
    /// <param name="extraLayers">Further layers to enable (default: those VKDIFF_LAYERS names), closest to the application.</param>
    public VulkanInstance(bool enableValidation, IReadOnlyList<string>? extraLayers = null)
    {
        Api = LoadLoader();
        extraLayers ??= (Environment.GetEnvironmentVariable(LayersVariable) ?? "")
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (enableValidation && !LayerAvailable(Api, ValidationLayerName))
            throw new VkDiffusionException(
                "Vulkan validation was requested but VK_LAYER_KHRONOS_validation is not installed. " +
                "Install it: sudo apt-get install vulkan-validationlayers (or unset VKDIFF_VALIDATION).");
        foreach (string layer in extraLayers)
            if (!LayerAvailable(Api, layer))
                throw new VkDiffusionException($"The Vulkan layer {layer} was requested ({LayersVariable}) but the loader cannot find it: set VK_ADD_LAYER_PATH to its folder.");

        byte* applicationName = (byte*)SilkMarshal.StringToPtr("VkDiffusion");
        string[] layers = [.. extraLayers, .. enableValidation ? new[] { ValidationLayerName } : []];
        PortabilityEnumeration = InstanceExtensionAvailable(Api, PortabilityEnumerationExtension);
        string[] extensions =
        [
            .. enableValidation ? [DebugUtilsExtensionName] : Array.Empty<string>(),
            .. PortabilityEnumeration ? [PortabilityEnumerationExtension] : Array.Empty<string>(),
        ];
        byte** layerNames = (byte**)SilkMarshal.StringArrayToPtr(layers);
        byte** extensionNames = (byte**)SilkMarshal.StringArrayToPtr(extensions);
        try
        {
            var application = new ApplicationInfo
            {
                SType = StructureType.ApplicationInfo,
                PApplicationName = applicationName,
                ApplicationVersion = 1,
                PEngineName = applicationName,
                EngineVersion = 1,
                // 1.3 where the device has it: cooperative-matrix kernels are SPIR-V 1.6. Devices below it still work.
                ApiVersion = Vk.Version13,
            };
            var create = new InstanceCreateInfo
            {
                SType = StructureType.InstanceCreateInfo,
                Flags = PortabilityEnumeration ? InstanceCreateFlags.EnumeratePortabilityBitKhr : 0,
                PApplicationInfo = &application,
                EnabledLayerCount = (uint)layers.Length,
                PpEnabledLayerNames = layerNames,
                EnabledExtensionCount = (uint)extensions.Length,
                PpEnabledExtensionNames = extensionNames,
            };
            Instance instance;
            Result result = Api.CreateInstance(&create, null, &instance);
            // The loader answers a malformed driver manifest (ICD json) with out-of-host-memory: at this point that
            // means no usable driver, not a full memory.
            if (result == Result.ErrorIncompatibleDriver || result == Result.ErrorInitializationFailed || result == Result.ErrorOutOfHostMemory)
                throw NoDeviceError($"vkCreateInstance returned {result}");
            VulkanResult.Check(result, "vkCreateInstance");
            Handle = instance;
        }
        finally
        {
            SilkMarshal.Free((nint)applicationName);
            SilkMarshal.FreeString((nint)layerNames);
            SilkMarshal.FreeString((nint)extensionNames);
        }

        if (enableValidation)
        {
            Validation = new ValidationLog
            {
                EchoToStandardError = ValidationRequestedByEnvironment,
                LayerPredatesCooperativeMatrix = LayerSpecVersion(Api, ValidationLayerName) < FirstValidationWithCooperativeMatrix,
            };
            validationHandle = GCHandle.Alloc(Validation);
            messenger = CreateMessenger();
        }
    }

    /// <summary>The error for "the loader works but no driver offers a device", with the fix.</summary>
    public static NoDeviceException NoDeviceError(string detail) => new(
        $"No Vulkan device found ({detail}). Install a Vulkan driver: on Debian/Ubuntu `sudo apt-get install mesa-vulkan-drivers` " +
        "gives the CPU device lavapipe; for a GPU install its vendor's Vulkan driver. If VK_DRIVER_FILES or VK_ICD_FILENAMES is set, " +
        "check that it points at an existing ICD json (e.g. /usr/share/vulkan/icd.d/lvp_icd.x86_64.json).");

    private static Vk LoadLoader()
    {
        string library = OperatingSystem.IsWindows() ? "vulkan-1.dll" : OperatingSystem.IsMacOS() ? "libvulkan.1.dylib" : "libvulkan.so.1";
        if (!NativeLibrary.TryLoad(library, typeof(VulkanInstance).Assembly, DllImportSearchPath.SafeDirectories | DllImportSearchPath.AssemblyDirectory, out _)
            && !NativeLibrary.TryLoad(library, out _))
            throw new NoVulkanLoaderException(
                $"The Vulkan loader ({library}) is not installed. On Debian/Ubuntu run `sudo apt-get install libvulkan1 mesa-vulkan-drivers` " +
                "(or scripts/setup.sh); elsewhere install your GPU vendor's Vulkan runtime.");
        try
        {
            return Vk.GetApi();
        }
        catch (Exception e)
        {
            throw new NoVulkanLoaderException($"The Vulkan loader ({library}) could not be loaded: {e.Message}", e);
        }
    }

    private static readonly uint FirstValidationWithCooperativeMatrix = Vk.MakeVersion(1, 3, 255);

    private static bool LayerAvailable(Vk vk, string name) => LayerSpecVersion(vk, name) is not null;

    private static bool InstanceExtensionAvailable(Vk vk, string name)
    {
        uint count = 0;
        vk.EnumerateInstanceExtensionProperties((byte*)null, &count, null);
        var extensions = new ExtensionProperties[count];
        fixed (ExtensionProperties* pointer = extensions)
            vk.EnumerateInstanceExtensionProperties((byte*)null, &count, pointer);
        foreach (ExtensionProperties extension in extensions)
            if (SilkMarshal.PtrToString((nint)extension.ExtensionName) == name) return true;
        return false;
    }

    // The Vulkan version a layer implements, or null when the loader cannot find it.
    private static uint? LayerSpecVersion(Vk vk, string name)
    {
        uint count = 0;
        vk.EnumerateInstanceLayerProperties(&count, null);
        var layers = new LayerProperties[count];
        fixed (LayerProperties* pointer = layers)
            vk.EnumerateInstanceLayerProperties(&count, pointer);
        foreach (LayerProperties layer in layers)
            if (SilkMarshal.PtrToString((nint)layer.LayerName) == name) return layer.SpecVersion;
        return null;
    }

    private DebugUtilsMessengerEXT CreateMessenger()
    {
        var create = new DebugUtilsMessengerCreateInfoEXT
        {
            SType = StructureType.DebugUtilsMessengerCreateInfoExt,
            MessageSeverity = DebugUtilsMessageSeverityFlagsEXT.WarningBitExt | DebugUtilsMessageSeverityFlagsEXT.ErrorBitExt,
            MessageType = DebugUtilsMessageTypeFlagsEXT.ValidationBitExt | DebugUtilsMessageTypeFlagsEXT.PerformanceBitExt
                | DebugUtilsMessageTypeFlagsEXT.GeneralBitExt,
            // The callback returns VkBool32 (a uint), which blittable UnmanagedCallersOnly methods return as uint.
            PfnUserCallback = new PfnDebugUtilsMessengerCallbackEXT(
                (delegate* unmanaged[Cdecl]<DebugUtilsMessageSeverityFlagsEXT, DebugUtilsMessageTypeFlagsEXT, DebugUtilsMessengerCallbackDataEXT*, void*, Silk.NET.Core.Bool32>)
                (void*)(delegate* unmanaged[Cdecl]<DebugUtilsMessageSeverityFlagsEXT, DebugUtilsMessageTypeFlagsEXT, DebugUtilsMessengerCallbackDataEXT*, void*, uint>)&OnMessage),
            PUserData = (void*)GCHandle.ToIntPtr(validationHandle),
        };
        var function = (delegate* unmanaged<Instance, DebugUtilsMessengerCreateInfoEXT*, AllocationCallbacks*, DebugUtilsMessengerEXT*, Result>)
            Api.GetInstanceProcAddr(Handle, "vkCreateDebugUtilsMessengerEXT").Handle;
        if (function == null) throw new VkDiffusionException("The validation layer is loaded but vkCreateDebugUtilsMessengerEXT is missing.");
        DebugUtilsMessengerEXT created;
        VulkanResult.Check(function(Handle, &create, null, &created), "vkCreateDebugUtilsMessengerEXT");
        return created;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static uint OnMessage(DebugUtilsMessageSeverityFlagsEXT severity, DebugUtilsMessageTypeFlagsEXT type,
        DebugUtilsMessengerCallbackDataEXT* data, void* userData)
    {
        // The loader reports drivers it skipped as general messages; those are not API misuse.
        bool isGeneral = type == DebugUtilsMessageTypeFlagsEXT.GeneralBitExt;
        if (isGeneral && severity != DebugUtilsMessageSeverityFlagsEXT.ErrorBitExt) return 0;
        var log = (ValidationLog)GCHandle.FromIntPtr((nint)userData).Target!;
        string text = SilkMarshal.PtrToString((nint)data->PMessage) ?? "(no text)";
        log.Add($"{severity} {type}: {text}");
        return 0;
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        if (messenger.Handle != 0)
        {
            var function = (delegate* unmanaged<Instance, DebugUtilsMessengerEXT, AllocationCallbacks*, void>)
                Api.GetInstanceProcAddr(Handle, "vkDestroyDebugUtilsMessengerEXT").Handle;
            if (function != null) function(Handle, messenger, null);
        }
        Api.DestroyInstance(Handle, null);
        if (validationHandle.IsAllocated) validationHandle.Free();
    }
}
