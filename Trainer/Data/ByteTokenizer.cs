using System.Text;

namespace VkDiffusion.Trainer.Data;

/// <summary>
/// Byte-level vocabulary: ids 0..255 are the UTF-8 bytes of the text, 256 ends a document, 257 is MASK,
/// 258..319 pad the table to 320 rows (PAPER §2: MASK and padding after the byte ids).
/// </summary>
public sealed class ByteTokenizer : ITokenizer
{
    public const string TokenizerName = "bytes";
    public const string EndOfDocumentMarker = "<|eod|>";

    public string Name => TokenizerName;
    public int VocabSize => 257;
    public int EndOfDocumentId => 256;
    public int MaskId => 257;
    public int PaddedVocabSize { get; } = Tokenizers.PaddedSize(257);

    public int[] Encode(string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        var ids = new int[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) ids[i] = bytes[i];
        return ids;
    }

    public string Decode(ReadOnlySpan<int> ids)
    {
        var text = new StringBuilder(ids.Length);
        var pendingBytes = new List<byte>();
        foreach (int id in ids)
        {
            Tokenizers.CheckRange(this, id);
            if (id < 256)
            {
                pendingBytes.Add((byte)id);
                continue;
            }
            FlushBytes(pendingBytes, text);
            text.Append(id == EndOfDocumentId ? EndOfDocumentMarker : id == MaskId ? Tokenizers.MaskMarker : Tokenizers.PaddingMarker(id));
        }
        FlushBytes(pendingBytes, text);
        return text.ToString();
    }

    /// <summary>Encoding.UTF8 (non-throwing) turns each invalid or incomplete sequence into U+FFFD.</summary>
    private static void FlushBytes(List<byte> pendingBytes, StringBuilder text)
    {
        if (pendingBytes.Count == 0) return;
        text.Append(Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(pendingBytes)));
        pendingBytes.Clear();
    }
}
