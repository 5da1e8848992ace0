using System.Text;
using VkDiffusion.Trainer.Data;

namespace VkDiffusion.Tests.Data;

public sealed class TokenizerTests
{
    public static TheoryData<string, string> TrickyTexts()
    {
        string[] texts =
        [
            "Hello world",
            "emoji 😀 family 👩‍👩‍👧 flag 🇫🇷",
            "日本語の文章と中文句子，한국어",
            "combining e\u0301 a\u0308 and precomposed é ä, Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇",
            "windows\r\nline\r\nendings\r\n",
            "nul \0 inside \0\0",
            "a" + new string(' ', 300) + "b\t\t\t\n\n\n\n  \u00a0\u3000 end   ",
            "<|endoftext|> written literally, and [MASK] too",
            "   leading and trailing   ",
            "\u200b\ufeffzero-width and BOM",
        ];
        var data = new TheoryData<string, string>();
        foreach (string tokenizer in Tokenizers.Names)
            foreach (string text in texts) data.Add(tokenizer, text);
        return data;
    }

    [Theory]
    [MemberData(nameof(TrickyTexts))]
    public void Decode_inverts_encode_on_tricky_text(string tokenizerName, string text)
    {
        ITokenizer tokenizer = Tokenizers.Create(tokenizerName);
        int[] ids = tokenizer.Encode(text);
        Assert.Equal(text, tokenizer.Decode(ids));
        // Text ids only: end-of-document and MASK must come from the data pipeline, never from the text.
        Assert.All(ids, id => Assert.InRange(id, 0, tokenizer.EndOfDocumentId - 1));
    }

    [Fact]
    public void Vocabulary_layout_follows_the_paper()
    {
        var bytes = Tokenizers.Create("bytes");
        Assert.Equal((257, 256, 257, 320), (bytes.VocabSize, bytes.EndOfDocumentId, bytes.MaskId, bytes.PaddedVocabSize));
        var gpt2 = Tokenizers.Create("gpt2");
        Assert.Equal((50257, 50256, 50257, 50304), (gpt2.VocabSize, gpt2.EndOfDocumentId, gpt2.MaskId, gpt2.PaddedVocabSize));
    }

    [Theory]
    // Published GPT-2 encodings (OpenAI's tiktoken "gpt2" and Hugging Face's GPT2Tokenizer agree on them).
    [InlineData("Hello world", new[] { 15496, 995 })]
    [InlineData("The quick brown fox jumps over the lazy dog.", new[] { 464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13 })]
    // The special token written in text is ordinary text (tiktoken's encode_ordinary): '<' '|' 'end' 'of' 'text' '|' '>'.
    [InlineData("<|endoftext|>", new[] { 27, 91, 437, 1659, 5239, 91, 29 })]
    public void Gpt2_matches_golden_ids(string text, int[] expected)
    {
        Assert.Equal(expected, Tokenizers.Create("gpt2").Encode(text));
    }

    [Fact]
    public void Gpt2_single_printable_ascii_characters_follow_the_byte_table()
    {
        // GPT-2's byte-to-unicode table puts the printable ASCII bytes '!'..'~' first, so each alone is id (byte - 33).
        var gpt2 = Tokenizers.Create("gpt2");
        for (char c = '!'; c <= '~'; c++) Assert.Equal(new[] { c - 33 }, gpt2.Encode(c.ToString()));
    }

    [Fact]
    public void Bytes_encode_is_the_utf8_encoding()
    {
        const string text = "é😀\r\n\0";
        Assert.Equal(Encoding.UTF8.GetBytes(text).Select(b => (int)b).ToArray(), Tokenizers.Create("bytes").Encode(text));
    }

    [Fact]
    public void Decode_renders_special_padding_and_partial_utf8_visibly()
    {
        var bytes = Tokenizers.Create("bytes");
        // 0xF0 0x9F starts a 4-byte sequence that never completes: one U+FFFD.
        Assert.Equal("a\uFFFD[MASK]<|eod|>[PAD 300]b", bytes.Decode([0x61, 0xF0, 0x9F, 257, 256, 300, 0x62]));

        var gpt2 = Tokenizers.Create("gpt2");
        int[] emoji = gpt2.Encode("😀");
        Assert.True(emoji.Length > 1, "the emoji takes several byte-level tokens");
        Assert.Equal("Hello<|endoftext|>[MASK][PAD 50303]\uFFFD", gpt2.Decode([15496, 50256, 50257, 50303, emoji[0]]));
        Assert.Throws<ArgumentOutOfRangeException>(() => gpt2.Decode([50304]));
        Assert.Throws<ArgumentOutOfRangeException>(() => bytes.Decode([-1]));
    }

    [Fact]
    public void Unknown_tokenizer_is_invalid_input()
    {
        var error = Assert.Throws<VkDiffusion.Runtime.Vulkan.InvalidInputException>(() => Tokenizers.Create("llama"));
        Assert.Contains("gpt2", error.Message);
    }
}
