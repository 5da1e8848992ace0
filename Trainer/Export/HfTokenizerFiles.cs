using System.Text.Json.Nodes;

namespace VkDiffusion.Trainer.Export;

/// <summary>
/// tokenizer.json (the Hugging Face `tokenizers` format) and tokenizer_config.json for a vkdiff vocabulary: a byte-level
/// BPE with GPT-2's pre-tokenizer and decoder, one vocabulary entry per row of the padded table, end-of-document, MASK
/// and padding as special added tokens. GPT-2 encodes as vkdiff does; bytes, having no merges, encode each byte to its
/// own id.
/// </summary>
public static class HfTokenizerFiles
{
    public const string TokenizerFileName = "tokenizer.json";
    public const string ConfigFileName = "tokenizer_config.json";

    public static JsonObject Tokenizer(ByteLevelVocabulary vocabulary)
    {
        var addedTokens = new JsonArray();
        var entries = new JsonObject();
        for (int id = 0; id < vocabulary.Tokens.Count; id++)
        {
            entries[vocabulary.Tokens[id]] = id;
            if (vocabulary.Kinds[id] == TokenKind.Normal) continue;
            addedTokens.Add(new JsonObject
            {
                ["id"] = id,
                ["content"] = vocabulary.Tokens[id],
                ["single_word"] = false,
                ["lstrip"] = false,
                ["rstrip"] = false,
                ["normalized"] = false,
                ["special"] = true,
            });
        }
        return new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = addedTokens,
            ["normalizer"] = null,
            ["pre_tokenizer"] = ByteLevel(),
            ["post_processor"] = null,
            ["decoder"] = ByteLevel(),
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["unk_token"] = null,
                ["continuing_subword_prefix"] = "",
                ["end_of_word_suffix"] = "",
                ["fuse_unk"] = false,
                ["byte_fallback"] = false,
                ["ignore_merges"] = false,
                ["vocab"] = entries,
                ["merges"] = new JsonArray([.. vocabulary.Merges.Select(merge => JsonValue.Create(merge))]),
            },
        };
    }

    public static JsonObject Config(ByteLevelVocabulary vocabulary, int contextLength)
    {
        string endOfDocument = vocabulary.Tokens[vocabulary.Spec.EndOfDocumentId];
        return new JsonObject
        {
            ["tokenizer_class"] = "PreTrainedTokenizerFast",
            ["bos_token"] = endOfDocument,
            ["eos_token"] = endOfDocument,
            ["pad_token"] = endOfDocument,
            ["mask_token"] = vocabulary.Tokens[vocabulary.Spec.MaskId],
            ["add_bos_token"] = false,
            ["add_eos_token"] = false,
            ["model_max_length"] = contextLength,
            ["clean_up_tokenization_spaces"] = false,
        };
    }

    /// <summary>GPT-2's byte-level step: its regex split, no prefix space.</summary>
    private static JsonObject ByteLevel() => new()
    {
        ["type"] = "ByteLevel",
        ["add_prefix_space"] = false,
        ["trim_offsets"] = true,
        ["use_regex"] = true,
    };
}
