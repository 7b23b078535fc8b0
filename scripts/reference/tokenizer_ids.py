#!/usr/bin/env python3
"""Reference ids from Hugging Face `tokenizers` for the tokenizer parity test.

Builds a varied corpus (about 5.5 MB: every benchmark problem in shared/benchmarks, Python source,
CJK, Arabic, Devanagari, emoji with modifiers, combining marks, whitespace runs, CRLF, long digit
runs, every added token in context, invalid UTF-8) and writes, under --out:
  corpus.bin          the documents' raw bytes, one after another
  corpus.idx          one line per document: byte offset, byte length, 1 if it holds added tokens
  corpus.nfc          NFC(document decoded with errors="replace"), same layout, lengths in nfc.idx
  <name>.ids          HF's ids per document (special tokens parsed), one line each
  <name>.plain.ids    HF's ids with special tokens treated as text, for documents flagged 1
for name in qwen2.5, qwen3 (shared/tokenizers/<name>/tokenizer.json).
Invalid UTF-8 cannot be given to HF as bytes: the reference for such a document is HF's encoding
of bytes.decode("utf-8", "replace"), which is what cotrain's encoder does with it.
"""
import argparse
import json
import os
import random
import unicodedata
from pathlib import Path

import tokenizers

SHARED = Path(os.environ.get("COTRAIN_SHARED") or Path(__file__).resolve().parents[2] / ".." / "shared")
NAMES = ["qwen2.5", "qwen3"]


def benchmark_documents():
    for path in sorted((SHARED / "benchmarks").glob("*/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            for value in row.values():
                if isinstance(value, str) and value:
                    yield value.encode()
                elif isinstance(value, list):
                    yield "\n".join(map(str, value)).encode()


def code_documents(limit_bytes):
    root = Path(os.__file__).parent  # the Python standard library's source
    total = 0
    for path in sorted(root.rglob("*.py")):
        data = path.read_bytes()
        yield data
        total += len(data)
        if total > limit_bytes:
            return


def random_text(rng, ranges, words, word_len=(1, 8), separators=(" ", " ", " ", "，", "。", "\n", "، ", "। ")):
    out = []
    for _ in range(words):
        lo, hi = rng.choice(ranges)
        out.append("".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(*word_len))))
        out.append(rng.choice(separators))
    return "".join(out)


def script_documents(rng):
    scripts = {
        "cjk": [(0x4E00, 0x9FFF), (0x3040, 0x30FF), (0xAC00, 0xD7A3)],
        "arabic": [(0x0621, 0x064A), (0x0660, 0x0669)],
        "devanagari": [(0x0905, 0x0939), (0x093E, 0x094D), (0x0966, 0x096F)],
        "mixed": [(0x41, 0x5A), (0x61, 0x7A), (0x30, 0x39), (0xC0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF),
                  (0x4E00, 0x9FFF), (0x1F300, 0x1FAFF), (0x2200, 0x22FF), (0x0E00, 0x0E7F)],
    }
    for name, ranges in scripts.items():
        for _ in range(30):
            yield random_text(rng, ranges, rng.randint(50, 1500)).encode()


def emoji_and_marks_documents(rng):
    skin = ["", "\U0001F3FB", "\U0001F3FC", "\U0001F3FD", "\U0001F3FE", "\U0001F3FF"]
    base = ["\U0001F44D", "\U0001F44B", "\U0001F9D1", "\U0001F469", "\u270C", "\U0001F3C3"]
    zwj = ["\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466", "\U0001F3F3\uFE0F\u200D\U0001F308",
           "\U0001F1EF\U0001F1F5", "\U0001F1FA\U0001F1F8", "\u2764\uFE0F", "1\uFE0F\u20E3"]
    marks = ["\u0301", "\u0300", "\u0308", "\u0323", "\u0327", "\u030A", "\u0338", "\u0902", "\u093C", "\u0651"]
    letters = "aeiouAEOUcnsz=<>\u1100\u1161\u11A8 \u0928\u0627"
    for _ in range(200):
        parts = []
        for _ in range(rng.randint(20, 400)):
            kind = rng.random()
            if kind < 0.3:
                parts.append(rng.choice(base) + rng.choice(skin))
            elif kind < 0.45:
                parts.append(rng.choice(zwj))
            elif kind < 0.8:
                parts.append(rng.choice(letters) + "".join(rng.choice(marks) for _ in range(rng.randint(1, 3))))
            else:
                parts.append(rng.choice([" ", "  ", "word", "\n", "Ω", "ﬁ", "Å", "Å"]))
        yield "".join(parts).encode()


def whitespace_and_digit_documents(rng):
    pieces = [" ", "  ", "    ", "\t", "\t\t", "\n", "\n\n", "\r\n", "\r", "\r\n\r\n", " \n", "\u00A0", "\u3000",
              "\u2009", "\u200B", "\x0b", "\x0c", "x", "if", "(", ")", ":", "'s", "'LL", "'Re", "do", "n't"]
    for _ in range(150):
        parts = []
        for _ in range(rng.randint(50, 600)):
            r = rng.random()
            if r < 0.2:
                parts.append(str(rng.randint(0, 10 ** rng.randint(1, 60))))
            elif r < 0.35:
                parts.append(rng.choice(pieces) * rng.randint(1, 40))
            else:
                parts.append(rng.choice(pieces))
        yield "".join(parts).encode()
    yield ("1234567890" * 3000).encode()
    yield (" " * 5000 + "a" + "\n" * 3000 + "b" + "\t" * 2000 + "\r\n" * 1000).encode()


def added_token_documents(rng, added):
    words = ["Hello", " world", "\n", " ", "x", "<", "|", "<|", "im_", "你好", "١٢", ""]
    for token in added:
        yield f"{token}".encode()
        yield f"text{token}more".encode()
        yield f" {token} \n{token}{token}\n".encode()
        yield f"<{token}>{token[:-1]}{token[1:]}".encode()
    for _ in range(200):
        yield "".join(rng.choice(added + words) for _ in range(rng.randint(5, 80))).encode()


def invalid_utf8_documents(rng):
    bad = [b"\xff", b"\xfe", b"\xc3", b"\xe4\xb8", b"\xf0\x9f\x98", b"\x80", b"\xbf\xbf", b"\xed\xa0\x80",
           b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xe0\x80\x80", b"\xf8\x88\x80\x80\x80"]
    good = [b"abc", b" ", "é".encode(), "中文".encode(), b"\n", b"123"]
    for _ in range(150):
        yield b"".join(rng.choice(bad if rng.random() < 0.3 else good) for _ in range(rng.randint(3, 200)))


def corpus(added):
    rng = random.Random(20241121)
    docs = []
    docs += benchmark_documents()
    docs += code_documents(1_000_000)
    docs += script_documents(rng)
    docs += emoji_and_marks_documents(rng)
    docs += whitespace_and_digit_documents(rng)
    flagged_from = len(docs)
    docs += added_token_documents(rng, added)
    flagged_to = len(docs)
    docs += invalid_utf8_documents(rng)
    return docs, range(flagged_from, flagged_to)


def write_ids(path, rows):
    with open(path, "w") as f:
        for ids in rows:
            f.write(" ".join(map(str, ids)) + "\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    loaded = {name: tokenizers.Tokenizer.from_file(str(SHARED / "tokenizers" / name / "tokenizer.json")) for name in NAMES}
    # Added tokens of the larger (Qwen3) vocabulary, so Qwen2.5 also sees ones it lacks.
    added = sorted({t.content for name in NAMES for t in loaded[name].get_added_tokens_decoder().values()})
    docs, flagged = corpus(added)
    texts = [d.decode("utf-8", "replace") for d in docs]

    offset = 0
    with open(out / "corpus.bin", "wb") as data, open(out / "corpus.idx", "w") as index:
        for i, d in enumerate(docs):
            data.write(d)
            index.write(f"{offset} {len(d)} {int(i in flagged)}\n")
            offset += len(d)
    offset = 0
    with open(out / "corpus.nfc", "wb") as data, open(out / "nfc.idx", "w") as index:
        for t in texts:
            b = unicodedata.normalize("NFC", t).encode()
            data.write(b)
            index.write(f"{offset} {len(b)}\n")
            offset += len(b)
    flagged_texts = [texts[i] for i in flagged]
    for name, tok in loaded.items():
        write_ids(out / f"{name}.ids", (e.ids for e in tok.encode_batch(texts, add_special_tokens=False)))
        tok.encode_special_tokens = True
        write_ids(out / f"{name}.plain.ids", (e.ids for e in tok.encode_batch(flagged_texts, add_special_tokens=False)))
    print(f"{len(docs)} documents, {sum(map(len, docs)) / 1e6:.1f} MB, tokenizers {tokenizers.__version__}")


if __name__ == "__main__":
    main()
