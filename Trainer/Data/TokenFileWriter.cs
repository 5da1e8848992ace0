using System.Buffers.Binary;

namespace VkDiffusion.Trainer.Data;

/// <summary>Appends token ids to a file as little-endian uint16 or uint32, through a buffer.</summary>
internal sealed class TokenFileWriter : IDisposable
{
    private readonly FileStream file;
    private readonly int bytesPerToken;
    private readonly byte[] buffer = new byte[1 << 16];
    private int bufferedBytes;

    public TokenFileWriter(string path, int bytesPerToken)
    {
        this.bytesPerToken = bytesPerToken;
        file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1);
    }

    public long TokenCount { get; private set; }

    public void Append(ReadOnlySpan<int> ids)
    {
        foreach (int id in ids) Append(id);
    }

    public void Append(int id)
    {
        if (bufferedBytes + bytesPerToken > buffer.Length) FlushBuffer();
        if (bytesPerToken == 2) BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(bufferedBytes), checked((ushort)id));
        else BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(bufferedBytes), checked((uint)id));
        bufferedBytes += bytesPerToken;
        TokenCount++;
    }

    /// <summary>Writes everything buffered and forces it to the disk.</summary>
    public void Complete()
    {
        FlushBuffer();
        file.Flush(flushToDisk: true);
    }

    private void FlushBuffer()
    {
        file.Write(buffer, 0, bufferedBytes);
        bufferedBytes = 0;
    }

    public void Dispose() => file.Dispose();
}
