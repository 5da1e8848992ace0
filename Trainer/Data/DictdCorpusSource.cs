using System.IO.Compression;
using System.Text;
using System.Text.Unicode;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Data;

/// <summary>
/// A dictd dictionary (the format of Debian's dict-* packages): NAME.dict or NAME.dict.dz (dictzip, which is
/// gzip-compatible) holds the entries, NAME.index lists "headword TAB offset TAB length" with offset and length
/// in dictd's base64 digits. Each distinct entry (byte range) is one document, in file order; the
/// 00-database-* entries (dictionary metadata and licence) are left out. Several headwords may share an
/// entry; it is still one document.
/// Legacy dictionaries carry a few non-UTF-8 bytes (gcide 0.48 has three Windows-1252 bytes), so invalid
/// bytes become U+FFFD here and are counted in meta.json rather than rejecting the whole corpus.
/// </summary>
public sealed class DictdCorpusSource(string path) : CorpusSource(path)
{
    private const string Base64Digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    public override string Format => "dictd";

    public string IndexPath { get; } = IndexPathFor(path);

    public override IReadOnlyList<string> Files => [Path, IndexPath];

    public static bool IsDictdFile(string fileName) =>
        fileName.EndsWith(".dict", StringComparison.OrdinalIgnoreCase) || fileName.EndsWith(".dict.dz", StringComparison.OrdinalIgnoreCase);

    public static string IndexPathFor(string dictPath)
    {
        string stem = dictPath.EndsWith(".dz", StringComparison.OrdinalIgnoreCase) ? dictPath[..^3] : dictPath;
        return stem[..^".dict".Length] + ".index";
    }

    public override IEnumerable<string> ReadDocuments()
    {
        // Each reading counts afresh: prepare reads a corpus twice when it learns a BPE first.
        ReplacedInvalidBytes = 0;
        var entries = ReadEntryRanges();
        using Stream file = OpenRead(Path);
        using Stream entriesStream = Path.EndsWith(".dz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionMode.Decompress) : file;
        long position = 0;
        byte[] entry = [];
        foreach (var (offset, length) in entries)
        {
            if (offset < position)
                throw new InvalidInputException($"{IndexPath}: entries at byte {offset} and before it overlap; the index does not match {Path}.");
            Skip(entriesStream, offset - position);
            if (entry.Length < length) entry = new byte[length];
            ReadExactly(entriesStream, entry.AsSpan(0, length), offset);
            position = offset + length;
            string text = Decode(entry.AsSpan(0, length)).Trim();
            if (text.Length > 0) yield return text;
        }
    }

    /// <summary>The distinct (offset, length) entries in file order, without the 00-database-* metadata entries.</summary>
    private List<(long Offset, int Length)> ReadEntryRanges()
    {
        if (!File.Exists(IndexPath))
            throw new InvalidInputException($"{Path}: the dictd index {IndexPath} is missing (it is needed to split the dictionary into entries).");
        var ranges = new HashSet<(long, int)>();
        var metadataRanges = new HashSet<(long, int)>();
        long lineNumber = 0;
        IEnumerable<string> lines;
        try
        {
            lines = File.ReadLines(IndexPath, Encoding.UTF8);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new InvalidInputException($"{IndexPath}: cannot read: {error.Message}", error);
        }
        foreach (string line in lines)
        {
            lineNumber++;
            if (line.Length == 0) continue;
            string[] fields = line.Split('\t');
            if (fields.Length < 3 || !TryDecodeNumber(fields[1], out long offset) || !TryDecodeNumber(fields[2], out long length) || length > int.MaxValue)
                throw new InvalidInputException($"{IndexPath}: line {lineNumber}: expected \"headword<TAB>offset<TAB>length\" in dictd base64 digits.");
            bool metadata = fields[0].StartsWith("00-database", StringComparison.Ordinal) || fields[0].StartsWith("00database", StringComparison.Ordinal);
            (metadata ? metadataRanges : ranges).Add((offset, (int)length));
        }
        ranges.ExceptWith(metadataRanges);
        if (ranges.Count == 0) throw new InvalidInputException($"{IndexPath}: the index lists no dictionary entries.");
        return ranges.OrderBy(range => range.Item1).ThenBy(range => range.Item2).ToList();
    }

    private static bool TryDecodeNumber(string digits, out long value)
    {
        value = 0;
        if (digits.Length == 0 || digits.Length > 10) return false;
        foreach (char digit in digits)
        {
            int digitValue = Base64Digits.IndexOf(digit);
            if (digitValue < 0) return false;
            value = value * 64 + digitValue;
        }
        return true;
    }

    private string Decode(ReadOnlySpan<byte> bytes)
    {
        if (!Utf8.IsValid(bytes))
        {
            for (int index = 0; index < bytes.Length;)
            {
                var status = System.Text.Rune.DecodeFromUtf8(bytes[index..], out _, out int consumed);
                if (status != System.Buffers.OperationStatus.Done) ReplacedInvalidBytes += consumed;
                index += consumed;
            }
        }
        return Encoding.UTF8.GetString(bytes);
    }

    private void Skip(Stream stream, long byteCount)
    {
        Span<byte> scratch = stackalloc byte[4096];
        while (byteCount > 0)
        {
            int read = stream.Read(scratch[..(int)Math.Min(scratch.Length, byteCount)]);
            if (read == 0) throw Truncated();
            byteCount -= read;
        }
    }

    private void ReadExactly(Stream stream, Span<byte> destination, long offset)
    {
        try
        {
            stream.ReadExactly(destination);
        }
        catch (EndOfStreamException)
        {
            throw Truncated();
        }
        catch (InvalidDataException error)
        {
            throw new InvalidInputException($"{Path}: corrupt compressed data near entry offset {offset}: {error.Message}", error);
        }
    }

    private InvalidInputException Truncated() =>
        new($"{Path}: the dictionary ends before an entry its index {IndexPath} lists (truncated file or mismatched index).");
}
