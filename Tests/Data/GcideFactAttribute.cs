namespace VkDiffusion.Tests.Data;

/// <summary>A test that reads Debian's whole GCIDE; skipped, saying why, where dict-gcide is not installed.</summary>
public sealed class GcideFactAttribute : FactAttribute
{
    public const string DictionaryPath = "/usr/share/dictd/gcide.dict.dz";

    public GcideFactAttribute()
    {
        if (!File.Exists(DictionaryPath)) Skip = $"no GCIDE: {DictionaryPath} is missing (Debian/Ubuntu: apt-get install dict-gcide)";
    }
}
