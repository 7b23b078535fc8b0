#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/): small valid inputs of
each kind, plus a few known-hostile ones, for libFuzzer to mutate. Rerun after changing it;
the files are committed so a fuzz run needs nothing else."""
import base64, json, os, pickle, shutil, struct, sys, zlib

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.join(here, "corpus")


def write(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def byte_to_char():  # GPT-2's byte-level map
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def tiny_tokenizer(pair_merges=False, post=None, normalizer=None):
    m = byte_to_char()
    vocab = {m[b]: b for b in range(256)}
    vocab.update({"ab": 256, "abc": 257, "\u0120ab": 258})
    merges = [["a", "b"], ["ab", "c"], ["\u0120", "ab"]] if pair_merges else ["a b", "ab c", "\u0120 ab"]
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": 259, "content": "<|end|>", "special": True, "normalized": False},
                         {"id": 260, "content": "<tool>", "special": False, "normalized": True}],
        "normalizer": normalizer if normalizer is not None else {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": " ?\\p{L}+|\\p{N}|\\s+|[^\\s\\p{L}\\p{N}]+"}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]},
        "post_processor": post if post is not None else {"type": "ByteLevel"},
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": vocab, "merges": merges, "byte_fallback": False},
    }


def main():
    if os.path.exists(root):
        shutil.rmtree(root)
    # JSON / JSONL
    for i, text in enumerate([
        '{"a": 1, "b": [1, 2.5, -3e2, true, false, null], "c": {"d": "\\u00e9\\n"}}',
        '[1, [2, [3, [4]]]]', '"just a string"', '1e999', '-0.0', '{"a": 18446744073709551616}',
        '{"gold": "\\\\frac{1}{2}", "pred": "0.5"}\n\n{"gold": 27.0, "pred": "27"}\r\n[1]\n',
        "[" * 130 + "]" * 130, '{"\\ud800": "lone surrogate"}', '{"a":1}\n{"a":\n',
    ]):
        write("fuzz_json", f"seed{i}", text)
    # tokenizer.json
    template = {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<|end|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "special_tokens": {"<|end|>": {"id": "<|end|>", "ids": [259], "tokens": ["<|end|>"]}}}
    variants = [tiny_tokenizer(), tiny_tokenizer(True), tiny_tokenizer(post=template),
                tiny_tokenizer(post={"type": "Sequence", "processors": [{"type": "ByteLevel"}, template]}),
                tiny_tokenizer(normalizer={"type": "Sequence", "normalizers": [{"type": "NFC"}]}), tiny_tokenizer(normalizer={})]
    for i, t in enumerate(variants):
        write("fuzz_tokenizer_json", f"seed{i}", json.dumps(t, ensure_ascii=i % 2 == 0))
    # text to encode: the first byte chooses parse_special
    for i, text in enumerate(["\x01Hello world <|end|> abc ab<tool>x", "\x00<|end|>x<|end|>x <to<tool>",
                              "\x01e\u0301t\u00e9 \u00e9t\u00e9 caf\u00e9", "\x01\xff\xfe<|<|end|>", "\x01   \n\t 12345 !!??",
                              "\x01" + "<|end|>" * 20 + "a" * 50]):
        write("fuzz_encode", f"seed{i}", text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text)
    # safetensors files
    def safetensors(tensors, meta=None):
        header, data, offset = {}, b"", 0
        if meta:
            header["__metadata__"] = meta
        for name, dtype, shape, payload in tensors:
            header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(payload)]}
            data += payload
            offset += len(payload)
        h = json.dumps(header).encode()
        h += b" " * ((8 - len(h) % 8) % 8)
        return struct.pack("<Q", len(h)) + h + data
    write("fuzz_safetensors", "seed0", safetensors([("a", "F32", [2, 3], bytes(24)), ("b", "BF16", [4], bytes(8))], {"format": "pt"}))
    write("fuzz_safetensors", "seed1", safetensors([("x", "I64", [], bytes(8))]))
    write("fuzz_safetensors", "seed2", safetensors([]))
    write("fuzz_safetensors", "seed3", safetensors([("e", "F16", [0, 5], b"")]))
    # answers: gold \n prediction
    pairs = [("\\frac{1}{2}", "0.5"), ("(x+1)^2", "x^2+2x+1"), ("[0,1)", "(0,1)"), ("2^{100}", "1267650600228229401496703205376"),
             ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}"), ("x = 3", "3"),
             ("\\{1,2,3\\}", "3, 2, 1"), ("\\pm 2", "2, -2"), ("10\\%", "0.1"), ("\\sqrt[3]{27}", "3"), ("1000!", "999!"),
             ("2^{5000}", "3^{5000}"), ("\\infty", "-\\infty"), ("\\text{(C)}", "C"),
             ("5", "The answer is $\\boxed{5}$. I hope it is correct."),
             ("\\dfrac{3}{4}", "<|begin_of_thought|>wait<|end_of_thought|><|begin_of_solution|>\\boxed{\\frac34}<|end_of_solution|>"),
             ("\\sum_{k=0}^{10} k", "55"), ("0.10\\%10^{400}%", "0.1000.11%\n0.18\\%"), ("\\binom{10}{3}", "120"), ("\\sin^2 x + \\cos^2 x", "1"), ("a<b\\le c", "(a, c]"),
             # found by fuzzing: factorials' values added and divided over every pair of ± alternatives
             ("{10l7}", "\\pm2601650600/282!9\\pm49670320537676"),
             ("{10l7}", "\\pm2601\\pm2601650600/282!9\\pm496703207650600/282!9\\pm49670320737676"),
             ("{10\\pm26316/0600/282!9\\pm4!967l3205376l7}", "\\pm26316/0600/0600/282!9\\pm5!0\\pm26316/0600/282!9\\pm4!96796737676")]
    for i, (gold, pred) in enumerate(pairs):
        write("fuzz_grade", f"seed{i}", gold + "\n" + pred)
    # trace files: the first byte picks the perturbation
    system = "Think, then answer."
    resp = ("<|begin_of_thought|>\n\nFirst, 2 + 3 = 5.\n\nWait, let me check: 5 - 3 = 2.\n\nSo it is 5.\n\n<|end_of_thought|>\n\n"
            "<|begin_of_solution|>\n\nThe answer is \\boxed{5}.\n\n<|end_of_solution|>")
    records = [{"system": system, "conversations": [{"from": "user", "value": "2 + 3?"}, {"from": "assistant", "value": resp}]},
               {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "<think>\n\nHmm.\n\nBut 7.\n\n</think>\\boxed{7}"}]},
               {"prompt": "p", "response": resp.replace("5", "8")}]
    for mode in range(6):
        write("fuzz_traces", f"jsonl{mode}", bytes([mode | (mode << 4)]) + "\n".join(json.dumps(r) for r in records).encode() + b"\n")
    write("fuzz_traces", "array", b"\x05" + json.dumps(records, indent=1).encode())
    write("fuzz_traces", "bad", b"\x02" + b'{"prompt": "x", "response": 5}\nnot json\n[1,\n')
    # LiveCodeBench test cases: 0 = the field itself, 1 = base64 of these bytes, 2 = compressed here
    tests = json.dumps([{"input": "1 2\n", "output": "3\n", "testtype": "stdin"},
                        {"input": "[1, 2]\n3", "output": "[0, 1]", "testtype": "functional"}])
    write("fuzz_lcb_tests", "plain", b"\x00" + tests.encode())
    for proto in (2, 3, 4, 5):
        p = pickle.dumps(tests, protocol=proto)
        write("fuzz_lcb_tests", f"pickle{proto}", b"\x02" + p)
        write("fuzz_lcb_tests", f"zlib{proto}", b"\x01" + zlib.compress(p))
    write("fuzz_lcb_tests", "field", b"\x00" + base64.b64encode(zlib.compress(pickle.dumps(tests, protocol=4))))


if __name__ == "__main__":
    sys.exit(main())
