using System.Text.RegularExpressions;

namespace VkDiffusion.Cli;

/// <summary>
/// Takes what identifies the user's machine out of text meant for a bug report: the home, working and temporary
/// directories (so every path under them) and the host and user names.
/// </summary>
internal static class Redaction
{
    public static string Scrub(string text)
    {
        var directories = new (string From, string To)[]
        {
            (Environment.CurrentDirectory, "."),
            (Path.GetTempPath().TrimEnd(Path.DirectorySeparatorChar), "$TMPDIR"),
            (Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), "~"),
        };
        // Longest first: the working directory usually lies inside the home directory. "/" alone would take every path apart.
        foreach (var (from, to) in directories.Where(d => d.From.Length > 1).OrderByDescending(d => d.From.Length))
            text = text.Replace(from, to, StringComparison.Ordinal);
        // Names as whole words only: a host called "vm" is not the one in "llvmpipe".
        foreach (var (name, to) in new[] { (Environment.MachineName, "<host>"), (Environment.UserName, "<user>") })
            if (name.Length > 1) text = Regex.Replace(text, $@"\b{Regex.Escape(name)}\b", to);
        return text;
    }
}
