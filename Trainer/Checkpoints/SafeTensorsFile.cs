using System.Buffers.Binary;
using System.Runtime.InteropServices;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Checkpoints;

/// <summary>
/// An open safetensors file: the header is read and checked on open, tensor data is read on demand, one tensor
/// at a time, so multi-GB checkpoints need not fit in memory at once.
/// </summary>
public sealed class SafeTensorsFile : IDisposable
{
    private readonly FileStream file;
    private readonly long dataStart;

    private SafeTensorsFile(string path, FileStream file, long dataStart, IReadOnlyDictionary<string, SafeTensorInfo> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Path = path;
        this.file = file;
        this.dataStart = dataStart;
        Tensors = tensors;
        Metadata = metadata;
    }

    public string Path { get; }
    public IReadOnlyDictionary<string, SafeTensorInfo> Tensors { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public static SafeTensorsFile Open(string path)
    {
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new InvalidInputException($"{path}: cannot open: {error.Message}", error);
        }
        try
        {
            long fileLength = file.Length;
            if (fileLength < 8) throw new InvalidInputException($"{path}: truncated safetensors file: {fileLength} bytes, shorter than the 8-byte header length.");
            Span<byte> lengthBytes = stackalloc byte[8];
            file.ReadExactly(lengthBytes);
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
            if (headerLength > (ulong)SafeTensors.MaxHeaderBytes)
                throw SafeTensors.Corrupt(path, $"the header length field says {headerLength} bytes (more than {SafeTensors.MaxHeaderBytes})");
            if ((long)headerLength > fileLength - 8)
                throw new InvalidInputException($"{path}: truncated safetensors file: the header needs {headerLength} bytes, only {fileLength - 8} follow.");
            if (headerLength < 2) throw SafeTensors.Corrupt(path, "the header is empty");
            byte[] header = new byte[headerLength];
            file.ReadExactly(header);
            if (header[0] != (byte)'{') throw SafeTensors.Corrupt(path, "the header does not start with '{'");
            long dataStart = 8 + (long)headerLength;
            var (tensors, metadata) = SafeTensors.ParseHeader(header, fileLength - dataStart, path);
            return new SafeTensorsFile(path, file, dataStart, tensors, metadata);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public SafeTensorInfo Info(string name) =>
        Tensors.TryGetValue(name, out SafeTensorInfo? info) ? info : throw new InvalidInputException($"{Path}: no tensor '{name}'.");

    public byte[] ReadBytes(string name)
    {
        SafeTensorInfo info = Info(name);
        var bytes = new byte[info.ByteLength];
        ReadInto(info, bytes);
        return bytes;
    }

    /// <summary>The tensor's elements; T must match its dtype (ushort also reads F16 and BF16 bits).</summary>
    public T[] Read<T>(string name) where T : unmanaged
    {
        SafeTensorInfo info = Info(name);
        CheckType<T>(info);
        var values = new T[info.ElementCount];
        ReadInto(info, MemoryMarshal.AsBytes(values.AsSpan()));
        return values;
    }

    /// <summary>Reads the tensor into destination, whose length must be its element count.</summary>
    public void ReadInto<T>(string name, Span<T> destination) where T : unmanaged
    {
        SafeTensorInfo info = Info(name);
        CheckType<T>(info);
        if (destination.Length != info.ElementCount)
            throw new ArgumentException($"{name} has {info.ElementCount} elements, the destination {destination.Length}");
        ReadInto(info, MemoryMarshal.AsBytes(destination));
    }

    private void ReadInto(SafeTensorInfo info, Span<byte> destination)
    {
        file.Position = dataStart + info.DataBegin;
        try
        {
            file.ReadExactly(destination);
        }
        catch (EndOfStreamException error)
        {
            throw new InvalidInputException($"{Path}: truncated while reading tensor '{info.Name}' (the file shrank after it was opened).", error);
        }
    }

    private void CheckType<T>(SafeTensorInfo info) where T : unmanaged
    {
        if (!SafeTensorDTypes.CanReadAs<T>(info.DType))
            throw new InvalidInputException($"{Path}: tensor '{info.Name}' is {info.DType}, not readable as {typeof(T).Name}.");
    }

    public void Dispose() => file.Dispose();
}
