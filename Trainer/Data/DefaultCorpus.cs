using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Data;

/// <summary>
/// The corpus `vkdiff prepare` and the quickstart use when given no --input: an excerpt of the GNU Collaborative
/// International Dictionary of English (GCIDE, GPL-2+), shipped beside vkdiff as corpus/gcide-excerpt.jsonl, so it is
/// there on every OS with nothing to install and gives the same tokens everywhere. It holds GCIDE's first 927 entries
/// (300,156 byte tokens) and its last 500, one document per entry, as Debian's dict-gcide splits them
/// (tools/default_corpus/make_excerpt.py). Split with its last 500 entries as validation, its training tokens are the
/// first ones of the whole dictionary's and its validation tokens the same, so the quickstart and any budget of up to
/// 300k tokens see exactly the data of docs/results.md. The whole dictionary is `--input /usr/share/dictd/gcide.dict.dz`.
/// </summary>
public static class DefaultCorpus
{
    public const string FileName = "gcide-excerpt.jsonl";
    /// <summary>Where the build puts the corpus, beside the vkdiff assemblies (Trainer.csproj).</summary>
    public static string FilePath => Path.Combine(AppContext.BaseDirectory, "corpus", FileName);

    /// <summary>GCIDE's last entries, the validation split of docs/results.md; the default split of this corpus.</summary>
    public const int ValidationDocuments = 500;

    /// <summary>The corpus's path, or an InvalidInputException saying the installation is incomplete.</summary>
    public static string RequirePath() => File.Exists(FilePath) ? FilePath
        : throw new InvalidInputException($"The default corpus {FilePath} is missing from this vkdiff installation; " +
                                          "reinstall vkdiff, or pass your own corpus with --input.");
}
