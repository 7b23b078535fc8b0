#!/usr/bin/env python3
"""References for the data area: `cotrain data stats` and the numbers corrupt-digits changes.

Writes under --out:
  traces.jsonl   300 seeded records in the three formats (multi-turn, Sky-T1 and <think> thought
                 sections, keywords in every case and glued to punctuation or other words,
                 complete and broken \\boxed{}, irregular blank lines, non-ASCII text)
  expected.json  samples, responses, per-keyword and total keyword means (Python's re, ASCII
                 case-insensitive, whole words), steps per trace, boxed share, and the rendered
                 token length of every record from transformers' apply_chat_template on Qwen2.5
  numbers.jsonl  {"text", "spans": [[begin, end], ...]}: where the paper's regex \\b\\d+(\\.\\d+)?\\b
                 finds numbers (Python's re, ASCII word boundaries, UTF-8 byte offsets) in 400 seeded
                 texts mixing decimals, numbers glued to letters and '_', LaTeX and non-ASCII letters
"""
import argparse
import json
import os
import random
import re
from pathlib import Path

SHARED = Path(os.environ.get("COTRAIN_SHARED") or Path(__file__).resolve().parents[2] / ".." / "shared")
NUMBER_PIECES = ["12", "3.14", "7.", ".5", "x2", "2x", "10_000", "a1b", "1.2.3", "0.0", "99.9x", "42", "$\\frac{3}{4}$",
          "2^{10}", "1,000", "-5", "(8)", "é3", "3é", "数7", "π=3.14159", "x_1", "ab", "the", "=", "+", " ", "\n", "v2.0"]
KEYWORDS = ["wait", "alternatively", "however", "but", "hmm", "let me", "double-check", "verify"]
FILLER = ["the", "sum", "is", "button", "butter", "waiting", "awaited", "verifying", "x_but", "hmmm", "letme",
          "double-checked", "2+2=4", "$\\frac{1}{2}$", "ok.", "Ünïcödé", "数学", "so", "then", "we", "get"]


def keyword_variants(rng, kw):
    word = rng.choice([kw, kw.upper(), kw.capitalize()])
    return word + rng.choice(["", ",", ".", "!", ":", ";", "...", " -"])


def paragraph(rng):
    words = []
    for _ in range(rng.randint(3, 25)):
        words.append(keyword_variants(rng, rng.choice(KEYWORDS)) if rng.random() < 0.25 else rng.choice(FILLER))
    return " ".join(words)


def response(rng):
    steps = [paragraph(rng) for _ in range(rng.randint(1, 8))]
    seps = [rng.choice(["\n\n", "\n\n\n", "\n \n", "\n\t\n  "]) for _ in steps[1:]]
    body = steps[0] + "".join(s + p for s, p in zip(seps, steps[1:]))
    kind = rng.random()
    boxed = rng.choice(["\\boxed{42}", "\\boxed{\\frac{1}{2}}", "\\boxed{unclosed", "no box", "\\boxed{}"])
    if kind < 0.45:
        return "<|begin_of_thought|>\n\n" + body + "\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n" + paragraph(rng) + " " + boxed + "\n\n<|end_of_solution|>"
    if kind < 0.75:
        return "<think>\n" + body + "\n</think>\n\n" + paragraph(rng) + " " + boxed
    return body + " " + boxed


def record(rng):
    turns = rng.randint(1, 3)
    shape = rng.choice(["sharegpt", "openai", "prompt"])
    system = rng.choice([None, "You are a careful thinker."])
    pairs = [(paragraph(rng), response(rng)) for _ in range(turns)]
    if shape == "prompt":
        out = {"prompt": pairs[0][0], "response": pairs[0][1]}
        if system:
            out["system"] = system
        return out
    if shape == "sharegpt":
        conv = []
        for q, a in pairs:
            conv += [{"from": rng.choice(["human", "user"]), "value": q}, {"from": rng.choice(["gpt", "assistant"]), "value": a}]
        out = {"conversations": conv}
        if system:
            out["system"] = system
        return out
    msgs = [{"role": "system", "content": system}] if system else []
    for q, a in pairs:
        msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    return {"messages": msgs}


def messages_of(rec):
    if "conversations" in rec:
        roles = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}
        msgs = [{"role": "system", "content": rec["system"]}] if rec.get("system") else []
        return msgs + [{"role": roles[t["from"]], "content": t["value"]} for t in rec["conversations"]]
    if "messages" in rec:
        return rec["messages"]
    msgs = [{"role": "system", "content": rec["system"]}] if rec.get("system") else []
    return msgs + [{"role": "user", "content": rec["prompt"]}, {"role": "assistant", "content": rec["response"]}]


def thought(text):
    for open_, close in (("<|begin_of_thought|>", "<|end_of_thought|>"), ("<think>", "</think>")):
        start = text.find(open_)
        if start >= 0:
            start += len(open_)
            end = text.find(close, start)
            return text[start:end if end >= 0 else len(text)]
    return None


def steps(section):
    body = section.strip(" \t\r\n")
    return 0 if not body else len(re.split(r"[ \t\r\n]*\n[ \t\r\n]*\n[ \t\r\n]*", body))


def has_boxed(text):
    start = text.rfind("\\boxed{")
    while start >= 0:
        depth = 0
        for ch in text[start + 6:]:
            depth += ch == "{"
            depth -= ch == "}"
            if depth == 0:
                return True
        start = text.rfind("\\boxed{", 0, start)
    return False


def write_numbers(path):
    rng = random.Random(7)
    pattern = re.compile(r"\b\d+(\.\d+)?\b", re.ASCII)
    with path.open("w", encoding="utf-8") as f:
        for _ in range(400):
            text = "".join(rng.choice(NUMBER_PIECES) + rng.choice(["", " ", ", ", "."]) for _ in range(rng.randint(1, 12)))
            spans = [[len(text[:m.start()].encode()), len(text[:m.end()].encode())] for m in pattern.finditer(text)]
            f.write(json.dumps({"text": text, "spans": spans}, ensure_ascii=False) + "\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    out = Path(parser.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20250219)
    records = [record(rng) for _ in range(300)]
    with (out / "traces.jsonl").open("w", encoding="utf-8") as f:
        for i, rec in enumerate(records):
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            if i % 50 == 0:
                f.write("\n")  # blank lines are not samples

    alternation = "|".join(re.escape(k) for k in sorted(KEYWORDS, key=len, reverse=True))
    pattern = re.compile(r"(?<![A-Za-z0-9_])(?:" + alternation + r")(?![A-Za-z0-9_])", re.I | re.A)
    counts = {k: 0 for k in KEYWORDS}
    responses = with_thought = total_steps = boxed = 0
    for rec in records:
        for m in messages_of(rec):
            if m["role"] != "assistant":
                continue
            responses += 1
            for hit in pattern.findall(m["content"]):
                counts[re.sub(r"\s+", " ", hit.lower())] += 1
            section = thought(m["content"])
            if section is not None:
                with_thought += 1
                total_steps += steps(section)
            boxed += has_boxed(m["content"])

    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(SHARED / "tokenizers" / "qwen2.5"))
    lengths = [len(tok.apply_chat_template(messages_of(r), tokenize=True, return_dict=True)["input_ids"]) for r in records]
    expected = {
        "samples": len(records), "responses": responses,
        "keywords": {k: counts[k] / responses for k in KEYWORDS},
        "keywords_total": sum(counts.values()) / responses,
        "responses_with_thought": with_thought, "steps_per_trace": total_steps / with_thought,
        "boxed_share": boxed / responses, "lengths": lengths,
    }
    (out / "expected.json").write_text(json.dumps(expected, indent=1))
    write_numbers(out / "numbers.jsonl")


if __name__ == "__main__":
    main()
