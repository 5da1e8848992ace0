using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;
using VkDiffusion.Trainer.Data;
using VkDiffusion.Trainer.Files;

namespace VkDiffusion.Tests.Data;

public sealed class CorpusPreparerTests
{
    private static readonly ITokenizer Bytes = Tokenizers.Create("bytes");

    /// <summary>The expected token stream, computed independently: UTF-8 bytes of each document then 256.</summary>
    private static List<int> ByteTokens(IEnumerable<string> documents)
    {
        var tokens = new List<int>();
        foreach (string document in documents)
        {
            tokens.AddRange(Encoding.UTF8.GetBytes(document).Select(b => (int)b));
            tokens.Add(256);
        }
        return tokens;
    }

    private static uint[] AllTokens(TokenSplit split)
    {
        var tokens = new uint[split.TokenCount];
        split.CopyTokens(0, tokens);
        return tokens;
    }

    private static DatasetMeta Prepare(TemporaryDirectory temp, string output, params string[] inputs) =>
        CorpusPreparer.Prepare(new PrepareOptions { Inputs = inputs, Tokenizer = "bytes", OutputDirectory = temp.File(output), ValidationDocuments = 1 });

    [Fact]
    public void Text_documents_split_on_blank_lines_and_the_last_documents_go_to_validation()
    {
        using var temp = new TemporaryDirectory();
        string input = temp.Write("corpus.txt", "\uFEFFfirst doc\r\nsecond line\r\n\r\n  \n\nsecond dœc 😀\n\n\nthird\n");
        var meta = CorpusPreparer.Prepare(new PrepareOptions { Inputs = [input], Tokenizer = "bytes", OutputDirectory = temp.File("out"), ValidationDocuments = 1 });

        using var dataset = TokenDataset.Open(temp.File("out"));
        var train = ByteTokens(["first doc\nsecond line", "second dœc 😀"]);
        Assert.Equal(train.Select(t => (uint)t), AllTokens(dataset.Train));
        Assert.Equal(ByteTokens(["third"]).Select(t => (uint)t), AllTokens(dataset.Val));
        Assert.Equal([0L, "first doc\nsecond line".Length + 1], dataset.Train.DocumentStarts.ToArray());
        Assert.Equal([0L], dataset.Val.DocumentStarts.ToArray());
        Assert.Equal((2L, 1L, "uint16"), (meta.Train.DocumentCount, meta.Val.DocumentCount, meta.TokenDtype));
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(input))), meta.Sources[0].Files[0].Sha256);
        Assert.Equal(2, Directory.GetFileSystemEntries(temp.Path).Length); // corpus.txt and out: no temporary directory left
    }

    [Fact]
    public void Directories_are_read_recursively_in_sorted_order_with_jsonl_and_dictd()
    {
        using var temp = new TemporaryDirectory();
        temp.Write("in/b.txt", "from b\n");
        temp.Write("in/a/c.jsonl", "{\"text\": \"json one\", \"id\": 1}\n\n{\"text\": \"line\\nbreak \\u00e9\"}\n{\"text\": \"\"}\n");
        temp.Write("in/ignored.md", "not a corpus format");
        // A dictd pair: the index (headword, base64 offset, base64 length) lists entries out of order, one twice, and metadata.
        string dict = "00-database-url\n   url\nentry one\n   text\nentry two\n   more\n";
        int first = dict.IndexOf("entry one", StringComparison.Ordinal), second = dict.IndexOf("entry two", StringComparison.Ordinal);
        string index = $"00-database-url\tA\t{Base64(first)}\nentry two\t{Base64(second)}\t{Base64(dict.Length - second)}\n" +
                       $"entry one\t{Base64(first)}\t{Base64(second - first)}\nalias\t{Base64(first)}\t{Base64(second - first)}\n";
        using (var compressed = new MemoryStream())
        {
            using (var gzip = new GZipStream(compressed, CompressionLevel.Optimal, leaveOpen: true)) gzip.Write(Encoding.UTF8.GetBytes(dict));
            temp.Write("in/d/words.dict.dz", compressed.ToArray());
        }
        temp.Write("in/d/words.index", index);

        var meta = CorpusPreparer.Prepare(new PrepareOptions { Inputs = [temp.File("in")], Tokenizer = "bytes", OutputDirectory = temp.File("out"), ValidationDocuments = 0 });

        using var dataset = TokenDataset.Open(temp.File("out"));
        var expected = ByteTokens(["json one", "line\nbreak é", "from b", "entry one\n   text", "entry two\n   more"]);
        Assert.Equal(expected.Select(t => (uint)t), AllTokens(dataset.Train));
        Assert.Equal(["jsonl", "txt", "dictd"], meta.Sources.Select(s => s.Format));
        Assert.Equal(0, dataset.Val.TokenCount);
    }

    private static string Base64(int value)
    {
        const string digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        string text = "";
        do
        {
            text = digits[value % 64] + text;
            value /= 64;
        } while (value > 0);
        return text;
    }

    [Fact]
    public void Gpt2_dataset_holds_the_tokenizer_ids()
    {
        using var temp = new TemporaryDirectory();
        string input = temp.Write("c.jsonl", "{\"text\":\"Hello world\"}\n{\"text\":\"The quick brown fox jumps over the lazy dog.\"}\n");
        CorpusPreparer.Prepare(new PrepareOptions { Inputs = [input], OutputDirectory = temp.File("out"), ValidationDocuments = 1 });
        using var dataset = TokenDataset.Open(temp.File("out"));
        Assert.Equal(new uint[] { 15496, 995, 50256 }, AllTokens(dataset.Train));
        Assert.Equal(11, dataset.Val.TokenCount);
        Assert.Equal("gpt2", dataset.CreateTokenizer().Name);
    }

    [Fact]
    public void Invalid_utf8_names_the_file_and_byte_offset_and_leaves_nothing()
    {
        using var temp = new TemporaryDirectory();
        string input = temp.Write("bad.txt", [.. "ok\n\nab"u8, 0xC3, 0x28, .. "\n"u8]);
        var error = Assert.Throws<InvalidInputException>(() => Prepare(temp, "out", input));
        Assert.Contains("bad.txt", error.Message);
        Assert.Contains("byte offset 6", error.Message);
        AssertOnlyInputsLeft(temp, 1);
    }

    [Fact]
    public void Empty_input_is_an_error_and_leaves_nothing()
    {
        using var temp = new TemporaryDirectory();
        string input = temp.Write("empty.txt", "\n \n\n");
        var error = Assert.Throws<InvalidInputException>(() => Prepare(temp, "out", input));
        Assert.Contains("no document", error.Message);
        AssertOnlyInputsLeft(temp, 1);
    }

    [Fact]
    public void Missing_file_and_unknown_format_are_errors_before_anything_is_written()
    {
        using var temp = new TemporaryDirectory();
        Assert.Contains("no such file", Assert.Throws<InvalidInputException>(() => Prepare(temp, "out", temp.File("missing.txt"))).Message);
        string markdown = temp.Write("notes.md", "text");
        Assert.Contains("unknown input format", Assert.Throws<InvalidInputException>(() => Prepare(temp, "out", markdown)).Message);
        AssertOnlyInputsLeft(temp, 1);
    }

    [Theory]
    [InlineData("{\"text\":\"fine\"}\n{\"text\": \"unterminated}\n", "line 2", "malformed JSON")]
    [InlineData("{\"text\":\"fine\"}\n\n{\"body\":\"x\"}\n", "line 3", "no \"text\" field")]
    [InlineData("[1, 2]\n", "line 1", "expected a JSON object")]
    [InlineData("{\"text\": 5}\n", "line 1", "not a string")]
    public void Malformed_jsonl_names_the_line(string content, string line, string problem)
    {
        using var temp = new TemporaryDirectory();
        string input = temp.Write("bad.jsonl", content);
        var error = Assert.Throws<InvalidInputException>(() => Prepare(temp, "out", input));
        Assert.Contains(line, error.Message);
        Assert.Contains(problem, error.Message);
        AssertOnlyInputsLeft(temp, 1);
    }

    [Fact]
    public void Existing_output_is_kept_unless_forced_and_replaced_only_when_complete()
    {
        using var temp = new TemporaryDirectory();
        string good = temp.Write("good.txt", "one\n\ntwo\n");
        string bad = temp.Write("bad.jsonl", "{oops\n");
        Prepare(temp, "out", good);
        byte[] before = File.ReadAllBytes(temp.File("out/train.bin"));

        Assert.Contains("--force", Assert.Throws<InvalidInputException>(() => Prepare(temp, "out", good)).Message);
        Assert.Throws<InvalidInputException>(() => CorpusPreparer.Prepare(new PrepareOptions
            { Inputs = [bad], Tokenizer = "bytes", OutputDirectory = temp.File("out"), Overwrite = true }));
        Assert.Equal(before, File.ReadAllBytes(temp.File("out/train.bin")));

        CorpusPreparer.Prepare(new PrepareOptions { Inputs = [good], Tokenizer = "gpt2", OutputDirectory = temp.File("out"), Overwrite = true, ValidationDocuments = 0 });
        using var dataset = TokenDataset.Open(temp.File("out"));
        Assert.Equal("gpt2", dataset.Meta.Tokenizer);
        AssertOnlyInputsLeft(temp, 2);
    }

    [Fact]
    public void Force_replaces_only_a_dataset_and_never_deletes_an_input_or_a_foreign_file()
    {
        using var temp = new TemporaryDirectory();
        string project = temp.Write("project/notes.md", "my notes");
        string corpus = temp.Write("project/corpus.txt", "one\n\ntwo\n");
        var intoProject = new PrepareOptions { Inputs = [corpus], Tokenizer = "bytes", OutputDirectory = temp.File("project"), Overwrite = true };
        Assert.Contains("inside --out", Assert.Throws<InvalidInputException>(() => CorpusPreparer.Prepare(intoProject)).Message);

        string outsideCorpus = temp.Write("corpus.txt", "one\n\ntwo\n");
        var overProject = intoProject with { Inputs = [outsideCorpus] };
        Assert.Contains("also holds", Assert.Throws<InvalidInputException>(() => CorpusPreparer.Prepare(overProject)).Message);
        Assert.Equal("my notes", File.ReadAllText(project));
        Assert.True(File.Exists(corpus));

        // A dataset with one extra file in it is no longer prepare's alone to replace.
        Prepare(temp, "data", outsideCorpus);
        temp.Write("data/README", "keep me");
        var overData = intoProject with { Inputs = [outsideCorpus], OutputDirectory = temp.File("data") };
        Assert.Contains("README", Assert.Throws<InvalidInputException>(() => CorpusPreparer.Prepare(overData)).Message);
        Assert.Equal("keep me", File.ReadAllText(temp.File("data/README")));
    }

    [Fact]
    public void A_prepare_removes_temporaries_of_killed_ones_and_refuses_to_run_beside_a_live_one()
    {
        using var temp = new TemporaryDirectory();
        string corpus = temp.Write("corpus.txt", "one\n\ntwo\n");
        temp.Write(".data.tmp-0123456789abcdef/all.bin", "left by kill -9");
        string unrelated = temp.Write(".other.tmp-0123/keep", "not ours");

        using (ExclusiveLock.Acquire(temp.File(".data.lock"), "test"))
            Assert.Contains("in use", Assert.Throws<VkDiffusionException>(() => Prepare(temp, "data", corpus)).Message);
        Assert.True(Directory.Exists(temp.File(".data.tmp-0123456789abcdef")));

        Prepare(temp, "data", corpus);
        Assert.Equal(["corpus.txt", "data"], Directory.EnumerateFileSystemEntries(temp.Path).Select(Path.GetFileName).Where(n => !n!.StartsWith(".other")).Order());
        Assert.True(File.Exists(unrelated));
    }

    [Fact]
    public void Validation_options_are_checked()
    {
        using var temp = new TemporaryDirectory();
        string input = temp.Write("c.txt", "one\n\ntwo\n\nthree\n");
        Assert.Throws<InvalidInputException>(() => CorpusPreparer.Prepare(new PrepareOptions
            { Inputs = [input], OutputDirectory = temp.File("o"), ValidationDocuments = 1, ValidationFraction = 0.1 }));
        Assert.Contains("leaves no training document", Assert.Throws<InvalidInputException>(() => CorpusPreparer.Prepare(new PrepareOptions
            { Inputs = [input], Tokenizer = "bytes", OutputDirectory = temp.File("o"), ValidationDocuments = 3 })).Message);
        var meta = CorpusPreparer.Prepare(new PrepareOptions { Inputs = [input], Tokenizer = "bytes", OutputDirectory = temp.File("o"), ValidationFraction = 0.5 });
        Assert.Equal((1L, 2L), (meta.Train.DocumentCount, meta.Val.DocumentCount)); // round(0.5 * 3) = 2 (banker's rounding of 1.5)
    }

    [Fact]
    public void Corrupt_datasets_are_refused_with_a_clear_message()
    {
        using var temp = new TemporaryDirectory();
        string input = temp.Write("c.txt", "one\n\ntwo\n\nthree\n");
        Prepare(temp, "out", input);
        string train = temp.File("out/train.bin");
        byte[] original = File.ReadAllBytes(train);

        File.WriteAllBytes(train, original[..^2]);
        Assert.Contains("corrupt or incomplete", Assert.Throws<InvalidInputException>(() => TokenDataset.Open(temp.File("out"))).Message);

        byte[] outOfVocabulary = (byte[])original.Clone();
        outOfVocabulary[0] = 0xFF;
        outOfVocabulary[1] = 0xFF;
        File.WriteAllBytes(train, outOfVocabulary);
        Assert.Contains("outside the vocabulary", Assert.Throws<InvalidInputException>(() => TokenDataset.Open(temp.File("out"))).Message);

        byte[] missingEnd = (byte[])original.Clone();
        missingEnd[^2] = (byte)'x';
        missingEnd[^1] = 0;
        File.WriteAllBytes(train, missingEnd);
        Assert.Contains("end-of-document", Assert.Throws<InvalidInputException>(() => TokenDataset.Open(temp.File("out"))).Message);

        File.WriteAllBytes(train, original);
        string metaJson = File.ReadAllText(temp.File("out/meta.json"));
        foreach (string hugeCount in new[] { "\"token_count\": 4611686018427387904", "\"document_count\": 2305843009213693952" })
        {
            File.WriteAllText(temp.File("out/meta.json"), Regex.Replace(metaJson, hugeCount.Split(':')[0] + @": \d+", hugeCount));
            Assert.Contains("corrupt or incomplete", Assert.Throws<InvalidInputException>(() => TokenDataset.Open(temp.File("out"))).Message);
        }
        File.WriteAllText(temp.File("out/meta.json"), "{ \"tokenizer\": ");
        Assert.Contains("not valid dataset metadata", Assert.Throws<InvalidInputException>(() => TokenDataset.Open(temp.File("out"))).Message);
        Assert.Contains("vkdiff prepare", Assert.Throws<InvalidInputException>(() => TokenDataset.Open(temp.File("nowhere"))).Message);
    }

    [Fact]
    public void Prepare_cli_reports_bad_input_with_the_invalid_input_exit_code()
    {
        using var temp = new TemporaryDirectory();
        string input = temp.Write("bad.jsonl", "{\"text\": 1}\n");
        var (exitCode, _, error) = Runtime.CliErrorTests.RunVkdiff(null, "prepare", "--input", input, "--tokenizer", "bytes", "--out", temp.File("out"));
        Assert.Equal(ExitCodes.InvalidInput, exitCode);
        Assert.Contains("line 1", error);
        Assert.DoesNotContain("   at ", error);
        Assert.False(Directory.Exists(temp.File("out")));
    }

    [Fact]
    public void Validation_windows_tile_the_validation_split_without_overlap()
    {
        int[] tokens = Enumerable.Range(0, 23).ToArray();
        using var split = TokenSplit.FromTokens(tokens, [0]);
        var windows = new ValidationWindows(split, sequenceLength: 4);
        Assert.Equal(4, windows.WindowCount); // floor(23 / 5)
        var all = new uint[4 * 5];
        windows.CopyWindows(0, 4, all);
        Assert.Equal(Enumerable.Range(0, 20).Select(t => (uint)t), all);
    }

    /// <summary>Only the inputs remain in the temporary directory: no output, no temporary dataset directory.</summary>
    private static void AssertOnlyInputsLeft(TemporaryDirectory temp, int inputCount)
    {
        string[] entries = Directory.GetFileSystemEntries(temp.Path);
        Assert.True(entries.Length == inputCount + (Directory.Exists(temp.File("out")) ? 1 : 0),
            "left behind: " + string.Join(", ", entries.Select(Path.GetFileName)));
        Assert.DoesNotContain(entries, entry => Path.GetFileName(entry).Contains(".tmp-"));
    }
}
