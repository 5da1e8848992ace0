using System.Buffers.Binary;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Files;

namespace VkDiffusion.Trainer.Data;

/// <summary>What `vkdiff prepare` was asked to do.</summary>
public sealed record PrepareOptions
{
    /// <summary>Files and directories in reading order; empty means the default corpus (<see cref="DefaultCorpus"/>).</summary>
    public IReadOnlyList<string> Inputs { get; init; } = [];
    public string Tokenizer { get; init; } = Gpt2Tokenizer.TokenizerName;
    public required string OutputDirectory { get; init; }
    /// <summary>
    /// The last N documents go to the validation split. At most one of ValidationDocuments and ValidationFraction; with
    /// neither, the default corpus keeps its own split (<see cref="DefaultCorpus.ValidationDocuments"/>), others a fraction.
    /// </summary>
    public int? ValidationDocuments { get; init; }
    /// <summary>The last round(F * documents) documents (at least one when F > 0) go to the validation split.</summary>
    public double? ValidationFraction { get; init; }
    /// <summary>Replace an existing non-empty output directory (only once the new one is complete).</summary>
    public bool Overwrite { get; init; }

    public const double DefaultValidationFraction = 0.01;
}

/// <summary>
/// Tokenizes a corpus into a token directory (train.bin, val.bin, their document-start files, meta.json).
/// Inputs stream through: memory holds one document and 8 bytes per document start. Everything is written into
/// a temporary sibling directory that is renamed into place only when complete, so a failure (bad input,
/// full disk, Ctrl-C) leaves no half-written dataset behind.
/// </summary>
public static class CorpusPreparer
{
    public const string TrainTokenFile = "train.bin", ValTokenFile = "val.bin";
    public const string TrainDocumentStartsFile = "train.docs.bin", ValDocumentStartsFile = "val.docs.bin";
    private const string AllTokensFile = "all.bin";
    private static readonly HashSet<string?> DatasetFiles =
        [TrainTokenFile, ValTokenFile, TrainDocumentStartsFile, ValDocumentStartsFile, DatasetMeta.FileName, BytePairTokenizer.RanksFileName];

    public static DatasetMeta Prepare(PrepareOptions options, TextWriter? progress = null, CancellationToken cancellation = default)
    {
        if (!Tokenizers.IsKnown(options.Tokenizer))
            throw new InvalidInputException($"Unknown tokenizer '{options.Tokenizer}'; choose {Tokenizers.Choices}.");
        ValidateSplitOptions(options);
        if (options.Inputs.Count == 0)
            options = options with
            {
                Inputs = [DefaultCorpus.RequirePath()],
                ValidationDocuments = options.ValidationDocuments ?? (options.ValidationFraction is null ? DefaultCorpus.ValidationDocuments : null),
            };
        IReadOnlyList<string> inputs = options.Inputs;
        IReadOnlyList<CorpusSource> sources = CorpusSource.Resolve(inputs);

        string outputDirectory = Path.GetFullPath(options.OutputDirectory.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar));
        OutputPath.RequireDirectory(outputDirectory, "--out");
        bool replacing = Directory.Exists(outputDirectory) && Directory.EnumerateFileSystemEntries(outputDirectory).Any();
        if (replacing) CheckReplaceable(outputDirectory, sources, options.Overwrite);
        string parent = Path.GetDirectoryName(outputDirectory)!;
        Directory.CreateDirectory(parent);
        string lockPath = Path.Combine(parent, $".{Path.GetFileName(outputDirectory)}.lock");
        // The lock guards one prepare's life only, so no stray file stays beside the dataset once it is released.
        using (ExclusiveLock.AcquireRemovedOnRelease(lockPath, $"--out {outputDirectory}"))
        {
            RemoveStaleTemporaryDirectories(parent, Path.GetFileName(outputDirectory));
            string temporaryDirectory = Path.Combine(parent, $".{Path.GetFileName(outputDirectory)}.tmp-{Guid.NewGuid():N}");
            Directory.CreateDirectory(temporaryDirectory);
            try
            {
                ITokenizer tokenizer = Tokenizers.LearnedSize(options.Tokenizer) is int size
                    ? LearnTokenizer(options, sources, size, temporaryDirectory, progress, cancellation)
                    : Tokenizers.Create(options.Tokenizer);
                DatasetMeta meta = WriteDataset(tokenizer, sources, options, temporaryDirectory, progress, cancellation);
                MoveIntoPlace(temporaryDirectory, outputDirectory, replacing);
                return meta;
            }
            catch
            {
                TryDeleteDirectory(temporaryDirectory);
                throw;
            }
        }
    }

    /// <summary>Temporary directories of earlier prepares into the same --out that were killed (kill -9 skips every cleanup).</summary>
    private static void RemoveStaleTemporaryDirectories(string parent, string outputName)
    {
        // The lock on --out is held, so no other prepare is writing into one of these.
        foreach (string stale in Directory.EnumerateDirectories(parent, $".{outputName}.tmp-*"))
            TryDeleteDirectory(stale);
    }

    /// <summary>
    /// --force replaces only what prepare itself wrote: a directory holding a dataset's files and nothing else, none
    /// of them an input. Anything more could be a user's project, and deleting it is not ours to do.
    /// </summary>
    private static void CheckReplaceable(string outputDirectory, IReadOnlyList<CorpusSource> sources, bool overwrite)
    {
        if (!overwrite)
            throw new InvalidInputException($"{outputDirectory} exists and is not empty; choose another --out or pass --force to replace it.");
        string inside = outputDirectory + Path.DirectorySeparatorChar;
        // Windows' and macOS's usual file systems ignore case: C:\Data\a.txt lies inside --out c:\data.
        StringComparison samePath = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        string? input = sources.SelectMany(source => source.Files.Append(source.Path)).Select(Path.GetFullPath)
            .FirstOrDefault(path => path.Equals(outputDirectory, samePath) || path.StartsWith(inside, samePath));
        if (input is not null)
            throw new InvalidInputException($"--force would delete the input {input}: it lies inside --out {outputDirectory}; choose another --out.");
        string? foreign = Directory.EnumerateFileSystemEntries(outputDirectory).Select(Path.GetFileName)
            .FirstOrDefault(name => !DatasetFiles.Contains(name));
        if (foreign is not null || !File.Exists(Path.Combine(outputDirectory, DatasetMeta.FileName)))
            throw new InvalidInputException($"--force replaces only a dataset written by `vkdiff prepare`, but {outputDirectory} " +
                (foreign is null ? $"has no {DatasetMeta.FileName}" : $"also holds {foreign}") + "; choose another --out.");
    }

    private static void ValidateSplitOptions(PrepareOptions options)
    {
        if (options.ValidationDocuments is not null && options.ValidationFraction is not null)
            throw new InvalidInputException("Give either --val-docs or --val-fraction, not both.");
        if (options.ValidationDocuments is < 0) throw new InvalidInputException("--val-docs must be >= 0.");
        if (options.ValidationFraction is { } fraction && !(fraction >= 0 && fraction < 1))
            throw new InvalidInputException("--val-fraction must be in [0, 1).");
    }

    private static DatasetMeta WriteDataset(
        ITokenizer tokenizer, IReadOnlyList<CorpusSource> sources, PrepareOptions options, string directory, TextWriter? progress, CancellationToken cancellation)
    {
        string tokenDtype = DatasetMeta.TokenDtypeFor(tokenizer.PaddedVocabSize);
        int bytesPerToken = DatasetMeta.BytesPerToken(tokenDtype);
        var documentStarts = new List<long>();
        var sourceMetas = new List<SourceMeta>();
        var clock = Stopwatch.StartNew();
        TimeSpan nextReport = TimeSpan.FromSeconds(5);
        string allTokensPath = Path.Combine(directory, AllTokensFile);
        using (var writer = new TokenFileWriter(allTokensPath, bytesPerToken))
        {
            foreach (CorpusSource source in sources)
            {
                long firstDocument = documentStarts.Count, firstToken = writer.TokenCount;
                foreach (string document in source.ReadDocuments())
                {
                    cancellation.ThrowIfCancellationRequested();
                    documentStarts.Add(writer.TokenCount);
                    writer.Append(tokenizer.Encode(document));
                    writer.Append(tokenizer.EndOfDocumentId);
                    if (progress is not null && clock.Elapsed >= nextReport)
                    {
                        progress.WriteLine($"prepare: {documentStarts.Count:N0} documents, {writer.TokenCount:N0} tokens ({source.Path})");
                        nextReport = clock.Elapsed + TimeSpan.FromSeconds(5);
                    }
                }
                sourceMetas.Add(new SourceMeta(Path.GetFullPath(source.Path), source.Format, documentStarts.Count - firstDocument,
                    writer.TokenCount - firstToken, source.ReplacedInvalidBytes, source.Files.Select(HashFile).ToList()));
                if (source.ReplacedInvalidBytes > 0)
                    progress?.WriteLine($"prepare: warning: {source.Path}: {source.ReplacedInvalidBytes} invalid UTF-8 bytes replaced by U+FFFD");
            }
            writer.Complete();
        }
        if (documentStarts.Count == 0) throw NoDocument(sources);

        var (validationDocuments, rule) = ValidationDocumentCount(options, documentStarts.Count);
        int trainDocuments = documentStarts.Count - validationDocuments;
        if (trainDocuments < 1)
            throw new InvalidInputException($"The validation split would take all {documentStarts.Count} documents; leave at least one for training.");
        long totalTokens = new FileInfo(allTokensPath).Length / bytesPerToken;
        long trainTokens = validationDocuments == 0 ? totalTokens : documentStarts[trainDocuments];
        SplitTokenFile(allTokensPath, Path.Combine(directory, TrainTokenFile), Path.Combine(directory, ValTokenFile), trainTokens * bytesPerToken);
        WriteDocumentStarts(Path.Combine(directory, TrainDocumentStartsFile), documentStarts.Take(trainDocuments), 0);
        WriteDocumentStarts(Path.Combine(directory, ValDocumentStartsFile), documentStarts.Skip(trainDocuments), trainTokens);

        var meta = new DatasetMeta
        {
            Tokenizer = tokenizer.Name,
            VocabSize = tokenizer.VocabSize,
            PaddedVocabSize = tokenizer.PaddedVocabSize,
            EndOfDocumentId = tokenizer.EndOfDocumentId,
            MaskId = tokenizer.MaskId,
            TokenDtype = tokenDtype,
            Train = new SplitMeta(TrainTokenFile, TrainDocumentStartsFile, trainTokens, trainDocuments),
            Val = new SplitMeta(ValTokenFile, ValDocumentStartsFile, totalTokens - trainTokens, validationDocuments),
            ValidationRule = rule,
            Sources = sourceMetas,
            CreatedUtc = DateTimeOffset.UtcNow,
        };
        using (var metaFile = new FileStream(Path.Combine(directory, DatasetMeta.FileName), FileMode.CreateNew))
        {
            JsonSerializer.Serialize(metaFile, meta, DatasetMeta.JsonOptions);
            metaFile.Flush(flushToDisk: true);
        }
        return meta;
    }

    /// <summary>
    /// A byte-level BPE of <paramref name="size"/> ids learned from the training documents only (the validation split is
    /// the same last documents WriteDataset holds out), its ranks written into the dataset for every later reader.
    /// </summary>
    private static BytePairTokenizer LearnTokenizer(
        PrepareOptions options, IReadOnlyList<CorpusSource> sources, int size, string directory, TextWriter? progress, CancellationToken cancellation)
    {
        int documentCount = 0;
        foreach (CorpusSource source in sources)
            foreach (string _ in source.ReadDocuments())
            {
                cancellation.ThrowIfCancellationRequested();
                documentCount++;
            }
        if (documentCount == 0) throw NoDocument(sources);
        int trainDocuments = documentCount - ValidationDocumentCount(options, documentCount).Count;
        progress?.WriteLine($"prepare: learning a {size}-id BPE from the {trainDocuments:N0} training documents");
        byte[][] tokens = BytePairLearner.Learn(sources.SelectMany(source => source.ReadDocuments()).Take(trainDocuments), size - 1, progress, cancellation);
        var tokenizer = new BytePairTokenizer($"bpe{size}", tokens);
        File.WriteAllText(Path.Combine(directory, BytePairTokenizer.RanksFileName), tokenizer.RanksText());
        return tokenizer;
    }

    private static InvalidInputException NoDocument(IReadOnlyList<CorpusSource> sources) =>
        new($"The input holds no document ({string.Join(", ", sources.Select(s => s.Path))}).");

    private static (int Count, string Rule) ValidationDocumentCount(PrepareOptions options, int documentCount)
    {
        if (options.ValidationDocuments is { } count)
        {
            if (count >= documentCount)
                throw new InvalidInputException($"--val-docs {count} leaves no training document: the corpus has {documentCount} documents.");
            return (count, $"last {count} documents");
        }
        double fraction = options.ValidationFraction ?? PrepareOptions.DefaultValidationFraction;
        int fromFraction = (int)Math.Round(fraction * documentCount);
        if (fraction > 0 && fromFraction == 0 && documentCount >= 2) fromFraction = 1;
        return (fromFraction, $"last {fromFraction} documents (fraction {fraction})");
    }

    /// <summary>The first trainBytes of the combined file become train.bin (truncated in place), the rest val.bin.</summary>
    private static void SplitTokenFile(string allTokensPath, string trainPath, string valPath, long trainBytes)
    {
        using (var all = new FileStream(allTokensPath, FileMode.Open, FileAccess.ReadWrite))
        using (var val = new FileStream(valPath, FileMode.CreateNew, FileAccess.Write))
        {
            all.Position = trainBytes;
            all.CopyTo(val);
            val.Flush(flushToDisk: true);
            all.SetLength(trainBytes);
            all.Flush(flushToDisk: true);
        }
        File.Move(allTokensPath, trainPath);
    }

    private static void WriteDocumentStarts(string path, IEnumerable<long> starts, long splitFirstToken)
    {
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        Span<byte> value = stackalloc byte[sizeof(long)];
        foreach (long start in starts)
        {
            BinaryPrimitives.WriteInt64LittleEndian(value, start - splitFirstToken);
            file.Write(value);
        }
        file.Flush(flushToDisk: true);
    }

    private static FileHash HashFile(string path)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            return new FileHash(Path.GetFullPath(path), file.Length, Convert.ToHexStringLower(SHA256.HashData(file)));
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new InvalidInputException($"{path}: cannot read: {error.Message}", error);
        }
    }

    /// <summary>Renames the finished directory into place; an old one (with --force) is moved aside first and deleted last.</summary>
    private static void MoveIntoPlace(string temporaryDirectory, string outputDirectory, bool replacing)
    {
        if (!replacing)
        {
            if (Directory.Exists(outputDirectory)) Directory.Delete(outputDirectory);
            Directory.Move(temporaryDirectory, outputDirectory);
            return;
        }
        string previous = temporaryDirectory + ".previous";
        Directory.Move(outputDirectory, previous);
        Directory.Move(temporaryDirectory, outputDirectory);
        TryDeleteDirectory(previous);
    }

    private static void TryDeleteDirectory(string directory)
    {
        try
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            // Cleanup is best effort: the original error is what the user needs to see.
        }
    }
}
