#!/usr/bin/env python3
"""Writes Trainer/Corpus/gcide-excerpt.jsonl, the default corpus shipped with vkdiff, from Debian's dict-gcide.

The excerpt is GCIDE's first entries up to at least FIRST_TOKENS byte tokens, then its last VALIDATION_ENTRIES
entries, one JSON object {"text": entry} per line. Prepared with `--val-docs 500` (what `prepare` does for the
default corpus), its training split is a prefix of the full dictionary's and its validation split is the same 500
entries, so the quickstart and every budget U <= FIRST_TOKENS see exactly the tokens of docs/results.md on any OS.

Entries are split as Trainer/Data/DictdCorpusSource.cs does (distinct byte ranges of the index in file order, the
00-database-* metadata left out, invalid UTF-8 replaced, .NET's Trim); Tests/Data/DefaultCorpusTests.cs checks the
result against that class on a machine with dict-gcide.
    usage: python3 tools/default_corpus/make_excerpt.py [/usr/share/dictd/gcide.dict.dz]
"""
import gzip
import json
import os
import sys

FIRST_TOKENS = 300_000
VALIDATION_ENTRIES = 500
BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# The characters .NET's string.Trim() removes (char.IsWhiteSpace); Python's strip() would also take U+001C-U+001F.
DOTNET_WHITESPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u2028\u2029\u202f\u205f\u3000"


def number(digits):
    value = 0
    for digit in digits:
        value = value * 64 + BASE64.index(digit)
    return value


def entries(dictionary):
    index = dictionary[: -len(".dict.dz")] + ".index"
    ranges, metadata = set(), set()
    with open(index, encoding="utf-8") as lines:
        for line in lines:
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 3:
                continue
            target = metadata if fields[0].startswith(("00-database", "00database")) else ranges
            target.add((number(fields[1]), number(fields[2])))
    with gzip.open(dictionary, "rb") as file:
        text = file.read()
    for offset, length in sorted(ranges - metadata):
        entry = text[offset : offset + length].decode("utf-8", errors="replace").strip(DOTNET_WHITESPACE)
        if entry:
            yield entry


def main():
    dictionary = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/dictd/gcide.dict.dz"
    documents = list(entries(dictionary))
    head, tokens = [], 0
    for document in documents[:-VALIDATION_ENTRIES]:
        if tokens >= FIRST_TOKENS:
            break
        head.append(document)
        tokens += len(document.encode("utf-8")) + 1  # the byte tokenizer's end-of-document id
    out = os.path.join(os.path.dirname(__file__), "..", "..", "Trainer", "Corpus", "gcide-excerpt.jsonl")
    with open(out, "w", encoding="utf-8", newline="\n") as file:
        for document in head + documents[-VALIDATION_ENTRIES:]:
            file.write(json.dumps({"text": document}, ensure_ascii=False) + "\n")
    print(f"{out}: {len(head)} leading entries ({tokens} byte tokens) and the last {VALIDATION_ENTRIES} of {len(documents)}")


if __name__ == "__main__":
    main()
