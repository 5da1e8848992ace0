using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Data;

/// <summary>
/// The tokens of one split and where its documents start. Token files are memory-mapped (corpora may exceed
/// memory and 2 GiB); FromTokens builds one in memory for tests and tools.
/// </summary>
public sealed unsafe class TokenSplit : IDisposable
{
    private readonly long[] documentStarts;
    private readonly int bytesPerToken;
    private readonly MemoryMappedFile? mappedFile;
    private readonly MemoryMappedViewAccessor? view;
    private byte* tokens;

    private TokenSplit(long tokenCount, long[] documentStarts, int bytesPerToken, byte* tokens, MemoryMappedFile? mappedFile, MemoryMappedViewAccessor? view)
    {
        TokenCount = tokenCount;
        this.documentStarts = documentStarts;
        this.bytesPerToken = bytesPerToken;
        this.tokens = tokens;
        this.mappedFile = mappedFile;
        this.view = view;
    }

    public long TokenCount { get; }

    public int DocumentCount => documentStarts.Length;

    /// <summary>Index of each document's first token; a document runs to the next start (or the split's end) and ends with end-of-document.</summary>
    public ReadOnlySpan<long> DocumentStarts => documentStarts;

    public long DocumentLength(int document) =>
        (document + 1 < documentStarts.Length ? documentStarts[document + 1] : TokenCount) - documentStarts[document];

    public uint this[long index]
    {
        get
        {
            if ((ulong)index >= (ulong)TokenCount) throw new ArgumentOutOfRangeException(nameof(index), index, $"the split has {TokenCount} tokens");
            return Read(index);
        }
    }

    /// <summary>Copies tokens [start, start + destination.Length) into destination.</summary>
    public void CopyTokens(long start, Span<uint> destination)
    {
        if (start < 0 || start + destination.Length > TokenCount)
            throw new ArgumentOutOfRangeException(nameof(start), $"tokens [{start}, {start + destination.Length}) are outside the split's {TokenCount}");
        ObjectDisposedException.ThrowIf(tokens == null && TokenCount > 0, this);
        if (bytesPerToken == 4)
        {
            new ReadOnlySpan<uint>(tokens + start * 4, destination.Length).CopyTo(destination);
            return;
        }
        var source = new ReadOnlySpan<ushort>(tokens + start * 2, destination.Length);
        for (int i = 0; i < source.Length; i++) destination[i] = source[i];
    }

    /// <summary>An in-memory split (uint32 storage) over the given tokens and document starts.</summary>
    public static TokenSplit FromTokens(ReadOnlySpan<int> tokenIds, ReadOnlySpan<long> documentStarts)
    {
        byte* memory = (byte*)NativeMemory.Alloc((nuint)Math.Max(1, tokenIds.Length) * 4);
        MemoryMarshal.AsBytes(tokenIds).CopyTo(new Span<byte>(memory, tokenIds.Length * 4));
        var split = new TokenSplit(tokenIds.Length, documentStarts.ToArray(), 4, memory, null, null);
        split.CheckDocumentStarts("in-memory split");
        return split;
    }

    /// <summary>Maps a token file and loads its document starts, checking their sizes against the expected counts.</summary>
    internal static TokenSplit Open(string tokenPath, string documentStartsPath, long tokenCount, long documentCount, int bytesPerToken)
    {
        long[] starts = ReadDocumentStarts(documentStartsPath, documentCount);
        long actualBytes = FileLength(tokenPath);
        // Compared by division: a corrupt count near 2^63 must not overflow into a match or an exception.
        if (actualBytes % bytesPerToken != 0 || actualBytes / bytesPerToken != tokenCount)
            throw new InvalidInputException(
                $"{tokenPath}: {actualBytes} bytes, but meta.json says {tokenCount} tokens of {bytesPerToken} bytes; the dataset is corrupt or incomplete: run `vkdiff prepare` again.");
        long expectedBytes = actualBytes;
        if (tokenCount == 0) return new TokenSplit(0, starts, bytesPerToken, null, null, null);

        var mapped = MemoryMappedFile.CreateFromFile(tokenPath, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = mapped.CreateViewAccessor(0, expectedBytes, MemoryMappedFileAccess.Read);
        byte* pointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        var split = new TokenSplit(tokenCount, starts, bytesPerToken, pointer + view.PointerOffset, mapped, view);
        try
        {
            split.CheckDocumentStarts(documentStartsPath);
            return split;
        }
        catch
        {
            split.Dispose();
            throw;
        }
    }

    /// <summary>Every token below limit; one pass over the file, so a corrupt id cannot reach the embedding lookup.</summary>
    internal void CheckTokenRange(uint limit, string what)
    {
        Span<uint> chunk = new uint[1 << 16];
        for (long start = 0; start < TokenCount; start += chunk.Length)
        {
            Span<uint> part = chunk[..(int)Math.Min(chunk.Length, TokenCount - start)];
            CopyTokens(start, part);
            for (int i = 0; i < part.Length; i++)
            {
                if (part[i] >= limit)
                    throw new InvalidInputException($"{what}: token {start + i} is {part[i]}, outside the vocabulary [0, {limit}); the dataset is corrupt.");
            }
        }
    }

    /// <summary>Every document ends with endOfDocumentId: the token before each start and the last token.</summary>
    internal void CheckDocumentEnds(uint endOfDocumentId, string what)
    {
        for (int document = 0; document < documentStarts.Length; document++)
        {
            long last = documentStarts[document] + DocumentLength(document) - 1;
            if (Read(last) != endOfDocumentId)
                throw new InvalidInputException($"{what}: document {document} does not end with the end-of-document id {endOfDocumentId}; the dataset is corrupt.");
        }
    }

    private void CheckDocumentStarts(string what)
    {
        if (documentStarts.Length == 0)
        {
            if (TokenCount != 0) throw new InvalidInputException($"{what}: {TokenCount} tokens but no document start.");
            return;
        }
        if (documentStarts[0] != 0) throw new InvalidInputException($"{what}: the first document starts at {documentStarts[0]}, not 0.");
        for (int i = 1; i < documentStarts.Length; i++)
        {
            if (documentStarts[i] <= documentStarts[i - 1] || documentStarts[i] >= TokenCount)
                throw new InvalidInputException($"{what}: document start {i} ({documentStarts[i]}) is not increasing or lies past the {TokenCount} tokens.");
        }
        if (TokenCount == 0) throw new InvalidInputException($"{what}: documents without tokens.");
    }

    private uint Read(long index) => bytesPerToken == 2 ? ((ushort*)tokens)[index] : ((uint*)tokens)[index];

    private static long[] ReadDocumentStarts(string path, long documentCount)
    {
        long actualBytes = FileLength(path);
        if (actualBytes % sizeof(long) != 0 || actualBytes / sizeof(long) != documentCount)
            throw new InvalidInputException($"{path}: {actualBytes} bytes, but meta.json says {documentCount} documents (8 bytes each); the dataset is corrupt or incomplete.");
        byte[] bytes = File.ReadAllBytes(path);
        var starts = new long[documentCount];
        for (int i = 0; i < starts.Length; i++) starts[i] = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(i * sizeof(long)));
        return starts;
    }

    private static long FileLength(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new InvalidInputException($"{path} is missing; the dataset is incomplete: run `vkdiff prepare` again.");
        return info.Length;
    }

    public void Dispose()
    {
        if (view is not null)
        {
            if (tokens != null) view.SafeMemoryMappedViewHandle.ReleasePointer();
            view.Dispose();
            mappedFile!.Dispose();
        }
        else if (tokens != null)
        {
            NativeMemory.Free(tokens);
        }
        tokens = null;
    }
}
