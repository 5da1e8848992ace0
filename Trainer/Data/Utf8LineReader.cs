using System.Buffers;
using System.Text;
using System.Text.Unicode;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Data;

/// <summary>
/// Reads a byte stream line by line (split on '\n', which never occurs inside a UTF-8 multi-byte sequence)
/// and decodes each line strictly, so invalid UTF-8 is reported with its file and byte offset instead of
/// silently becoming U+FFFD. Memory is bounded by the longest line, not the file.
/// </summary>
internal sealed class Utf8LineReader : IDisposable
{
    private static readonly byte[] ByteOrderMark = [0xEF, 0xBB, 0xBF];

    private readonly Stream stream;
    private readonly string sourceName;
    private byte[] buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
    private int bufferStart, bufferEnd;
    private bool endOfStream, atFileStart = true;
    private long bufferFileOffset;

    public Utf8LineReader(Stream stream, string sourceName)
    {
        this.stream = stream;
        this.sourceName = sourceName;
    }

    /// <summary>1-based number of the line ReadLine last returned.</summary>
    public long LineNumber { get; private set; }

    /// <summary>Byte offset in the file of the line ReadLine last returned.</summary>
    public long LineByteOffset { get; private set; }

    /// <summary>The next line without its '\n' (and without a '\r' before it when trimCarriageReturn), or null at the end.</summary>
    public string? ReadLine(bool trimCarriageReturn)
    {
        int newline;
        while ((newline = Array.IndexOf(buffer, (byte)'\n', bufferStart, bufferEnd - bufferStart)) < 0)
        {
            if (endOfStream) break;
            Fill();
        }
        if (newline < 0 && bufferStart == bufferEnd) return null;
        int lineEnd = newline < 0 ? bufferEnd : newline;
        int contentStart = bufferStart;
        if (atFileStart && buffer.AsSpan(bufferStart, lineEnd - bufferStart).StartsWith(ByteOrderMark)) contentStart += ByteOrderMark.Length;
        atFileStart = false;
        int contentEnd = lineEnd;
        if (trimCarriageReturn && contentEnd > contentStart && buffer[contentEnd - 1] == (byte)'\r') contentEnd--;

        LineNumber++;
        LineByteOffset = bufferFileOffset + bufferStart;
        string line = DecodeStrict(buffer.AsSpan(contentStart, contentEnd - contentStart), sourceName, bufferFileOffset + contentStart);
        bufferStart = newline < 0 ? bufferEnd : newline + 1;
        return line;
    }

    /// <summary>Decodes UTF-8 or throws InvalidInputException naming the source and the byte offset of the first bad byte.</summary>
    public static string DecodeStrict(ReadOnlySpan<byte> bytes, string sourceName, long fileOffset)
    {
        if (Utf8.IsValid(bytes)) return Encoding.UTF8.GetString(bytes);
        char[] scratch = ArrayPool<char>.Shared.Rent(bytes.Length);
        try
        {
            Utf8.ToUtf16(bytes, scratch, out int validByteCount, out _, replaceInvalidSequences: false);
            throw new InvalidInputException(
                $"{sourceName}: invalid UTF-8 at byte offset {fileOffset + validByteCount} (byte 0x{bytes[validByteCount]:X2}). " +
                "Convert the file to UTF-8 (e.g. `iconv -f WINDOWS-1252 -t UTF-8`).");
        }
        finally
        {
            ArrayPool<char>.Shared.Return(scratch);
        }
    }

    /// <summary>Moves the unread bytes to the front (growing the buffer for a long line) and reads more.</summary>
    private void Fill()
    {
        int unread = bufferEnd - bufferStart;
        if (bufferStart > 0)
        {
            Buffer.BlockCopy(buffer, bufferStart, buffer, 0, unread);
            bufferFileOffset += bufferStart;
            bufferStart = 0;
            bufferEnd = unread;
        }
        if (bufferEnd == buffer.Length)
        {
            byte[] larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
            Buffer.BlockCopy(buffer, 0, larger, 0, bufferEnd);
            ArrayPool<byte>.Shared.Return(buffer);
            buffer = larger;
        }
        int read = stream.Read(buffer, bufferEnd, buffer.Length - bufferEnd);
        if (read == 0) endOfStream = true;
        bufferEnd += read;
    }

    public void Dispose()
    {
        stream.Dispose();
        ArrayPool<byte>.Shared.Return(buffer);
        buffer = [];
    }
}
