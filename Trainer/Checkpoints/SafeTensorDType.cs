namespace VkDiffusion.Trainer.Checkpoints;

/// <summary>Element types of the safetensors format that VkDiffusion writes or reads; names as in the header.</summary>
public enum SafeTensorDType
{
    F32,
    F16,
    BF16,
    I32,
    I64,
    U8,
    U16,
    U32,
}

public static class SafeTensorDTypes
{
    public static int ElementSize(SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.U8 => 1,
        SafeTensorDType.F16 or SafeTensorDType.BF16 or SafeTensorDType.U16 => 2,
        SafeTensorDType.F32 or SafeTensorDType.I32 or SafeTensorDType.U32 => 4,
        SafeTensorDType.I64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>The header spelling ("F32", "BF16", ...).</summary>
    public static string HeaderName(SafeTensorDType dtype) => dtype.ToString();

    public static bool TryParse(string headerName, out SafeTensorDType dtype) =>
        Enum.TryParse(headerName, ignoreCase: false, out dtype) && Enum.IsDefined(dtype) && headerName == dtype.ToString();

    /// <summary>The dtype stored from a CLR element type; F16 and BF16 are written from raw bytes.</summary>
    public static SafeTensorDType For<T>() where T : unmanaged => default(T) switch
    {
        float => SafeTensorDType.F32,
        int => SafeTensorDType.I32,
        long => SafeTensorDType.I64,
        byte => SafeTensorDType.U8,
        ushort => SafeTensorDType.U16,
        uint => SafeTensorDType.U32,
        Half => SafeTensorDType.F16,
        _ => throw new ArgumentException($"{typeof(T).Name} has no safetensors dtype"),
    };

    /// <summary>Whether tensors of dtype may be read as T: the same type, or ushort for the 16-bit floats.</summary>
    public static bool CanReadAs<T>(SafeTensorDType dtype) where T : unmanaged =>
        (typeof(T) == typeof(ushort) && dtype is SafeTensorDType.F16 or SafeTensorDType.BF16 or SafeTensorDType.U16) ||
        (default(T) is float or int or long or byte or ushort or uint or Half && For<T>() == dtype);
}
