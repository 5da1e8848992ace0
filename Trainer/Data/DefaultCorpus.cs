using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Data;

/// <summary>
/// The corpus `vkdiff prepare` uses when given no --input: the GNU Collaborative International Dictionary of
/// English from Debian's dict-gcide package (~126k entries, ~40 MB of text), one document per entry.
/// </summary>
public static class DefaultCorpus
{
    public const string PackageName = "dict-gcide";
    public const string DictionaryPath = "/usr/share/dictd/gcide.dict.dz";
    public static string IndexPath => DictdCorpusSource.IndexPathFor(DictionaryPath);

    public static bool IsInstalled => File.Exists(DictionaryPath) && File.Exists(IndexPath);

    /// <summary>The dictionary's path, or an InvalidInputException that names the package to install.</summary>
    public static string RequirePath()
    {
        if (!IsInstalled)
            throw new InvalidInputException(
                $"The default corpus ({DictionaryPath} with its index) is not installed. Install it with " +
                $"`sudo apt-get install {PackageName}` (Debian/Ubuntu), or pass your own corpus with --input.");
        return DictionaryPath;
    }
}
