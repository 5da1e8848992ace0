using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Data;

/// <summary>
/// One input file of `vkdiff prepare` and the documents it holds, read lazily in file order so corpora larger
/// than memory stream through.
/// </summary>
public abstract class CorpusSource(string path)
{
    public string Path { get; } = path;

    /// <summary>The format name recorded in meta.json (`txt`, `jsonl`, `dictd`).</summary>
    public abstract string Format { get; }

    /// <summary>Every file whose bytes define the documents (hashed into meta.json).</summary>
    public virtual IReadOnlyList<string> Files => [Path];

    /// <summary>Invalid UTF-8 bytes replaced by U+FFFD (only formats known to carry legacy bytes do this; the others throw).</summary>
    public long ReplacedInvalidBytes { get; protected set; }

    /// <summary>The documents' texts in file order; empty documents are skipped.</summary>
    public abstract IEnumerable<string> ReadDocuments();

    /// <summary>The source for a file, chosen by its name: *.txt, *.jsonl, *.dict or *.dict.dz.</summary>
    public static CorpusSource ForFile(string path)
    {
        string name = System.IO.Path.GetFileName(path).ToLowerInvariant();
        if (name.EndsWith(".txt", StringComparison.Ordinal)) return new TextCorpusSource(path);
        if (name.EndsWith(".jsonl", StringComparison.Ordinal)) return new JsonlCorpusSource(path);
        if (DictdCorpusSource.IsDictdFile(name)) return new DictdCorpusSource(path);
        throw new InvalidInputException(
            $"{path}: unknown input format; give .txt (documents separated by blank lines), .jsonl (one JSON object with a " +
            "\"text\" field per line), .dict/.dict.dz (a dictd dictionary with its .index beside it) or a directory of them.");
    }

    /// <summary>
    /// Expands the inputs in the order given: a file is taken as is, a directory contributes its files of a known
    /// format, recursively, in ordinal path order. Missing paths and empty directories are errors.
    /// </summary>
    public static IReadOnlyList<CorpusSource> Resolve(IEnumerable<string> inputs)
    {
        var sources = new List<CorpusSource>();
        foreach (string input in inputs)
        {
            if (File.Exists(input))
            {
                sources.Add(ForFile(input));
            }
            else if (Directory.Exists(input))
            {
                string[] files;
                try
                {
                    files = Directory.GetFiles(input, "*", SearchOption.AllDirectories);
                }
                catch (Exception error) when (error is IOException or UnauthorizedAccessException)
                {
                    throw new InvalidInputException($"{input}: cannot list the directory: {error.Message}", error);
                }
                Array.Sort(files, StringComparer.Ordinal);
                var known = files.Where(IsKnownFormat).ToList();
                if (known.Count == 0) throw new InvalidInputException($"{input}: the directory holds no .txt, .jsonl or .dict(.dz) file.");
                sources.AddRange(known.Select(ForFile));
            }
            else
            {
                throw new InvalidInputException($"{input}: no such file or directory.");
            }
        }
        if (sources.Count == 0) throw new InvalidInputException("No input given.");
        return sources;
    }

    private static bool IsKnownFormat(string path)
    {
        string name = System.IO.Path.GetFileName(path).ToLowerInvariant();
        return name.EndsWith(".txt", StringComparison.Ordinal) || name.EndsWith(".jsonl", StringComparison.Ordinal) || DictdCorpusSource.IsDictdFile(name);
    }

    /// <summary>Opens a file for sequential reading, turning OS errors into an InvalidInputException naming it.</summary>
    protected static FileStream OpenRead(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new InvalidInputException($"{path}: cannot read: {error.Message}", error);
        }
    }
}
