using System.Text;

namespace VkDiffusion.Trainer.Data;

/// <summary>
/// Plain UTF-8 text: documents are separated by one or more blank (empty or whitespace-only) lines. Line
/// endings inside a document are normalised to '\n'; a leading byte-order mark is dropped.
/// </summary>
public sealed class TextCorpusSource(string path) : CorpusSource(path)
{
    public override string Format => "txt";

    public override IEnumerable<string> ReadDocuments()
    {
        using var reader = new Utf8LineReader(OpenRead(Path), Path);
        var document = new StringBuilder();
        while (reader.ReadLine(trimCarriageReturn: true) is { } line)
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                if (document.Length > 0) yield return document.ToString();
                document.Clear();
                continue;
            }
            if (document.Length > 0) document.Append('\n');
            document.Append(line);
        }
        if (document.Length > 0) yield return document.ToString();
    }
}
