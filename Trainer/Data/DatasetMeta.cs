using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace VkDiffusion.Trainer.Data;

/// <summary>
/// meta.json of a prepared token directory (docs/data.md): what produced the token files and how to read them.
/// Token files hold little-endian uint16 ids when PaddedVocabSize fits (<= 65536), else uint32; document-start
/// files hold one little-endian int64 per document: the index of its first token within the split.
/// </summary>
public sealed record DatasetMeta
{
    public const string FileName = "meta.json";
    public const int CurrentFormatVersion = 1;

    public int FormatVersion { get; init; } = CurrentFormatVersion;
    public required string Tokenizer { get; init; }
    public required int VocabSize { get; init; }
    public required int PaddedVocabSize { get; init; }
    public required int EndOfDocumentId { get; init; }
    public required int MaskId { get; init; }
    /// <summary>`uint16` or `uint32`.</summary>
    public required string TokenDtype { get; init; }
    public required SplitMeta Train { get; init; }
    public required SplitMeta Val { get; init; }
    /// <summary>How the validation split was chosen, e.g. "last 10 documents".</summary>
    public required string ValidationRule { get; init; }
    public required IReadOnlyList<SourceMeta> Sources { get; init; }
    public required DateTimeOffset CreatedUtc { get; init; }

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        // Not Environment.NewLine: the same bytes on Windows as on Linux (the dataset fingerprint hashes this text).
        NewLine = "\n",
    };

    /// <summary>
    /// Identifies the tokens, not the moment they were written: the tokenizer, both splits' counts and the SHA-256 of
    /// every input file. Preparing the same corpus again gives the same fingerprint; any other corpus a different one.
    /// </summary>
    public string Fingerprint()
    {
        string identity = JsonSerializer.Serialize(new { Tokenizer, Train, Val, Inputs = Sources.SelectMany(s => s.Files).Select(f => f.Sha256) }, JsonOptions);
        return Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(identity)));
    }

    public static int BytesPerToken(string tokenDtype) => tokenDtype switch
    {
        "uint16" => 2,
        "uint32" => 4,
        _ => throw new ArgumentException($"unknown token dtype '{tokenDtype}'"),
    };

    public static string TokenDtypeFor(int paddedVocabSize) => paddedVocabSize <= 65536 ? "uint16" : "uint32";
}

/// <summary>One split (train or val): its files, relative to the dataset directory, and counts.</summary>
public sealed record SplitMeta(string TokenFile, string DocumentStartsFile, long TokenCount, long DocumentCount);

/// <summary>One input of `vkdiff prepare`, in the order it was read.</summary>
public sealed record SourceMeta(
    string Path, string Format, long DocumentCount, long TokenCount, long ReplacedInvalidBytes, IReadOnlyList<FileHash> Files);

public sealed record FileHash(string Path, long Bytes, [property: JsonPropertyName("sha256")] string Sha256);
