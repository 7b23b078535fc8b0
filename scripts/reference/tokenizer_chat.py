#!/usr/bin/env python3
"""Chat-template reference: transformers' apply_chat_template on a set of conversations.

For each family (qwen2.5 and qwen3 with the templates in shared/tokenizers/<name>/
tokenizer_config.json; llama3, deepseek-r1 and chatml with the templates quoted below) and each
conversation, with and without the generation prompt, writes one JSON line to --out/chat.jsonl:
  {"family", "messages", "add_generation_prompt", "text", "ids"}
"ids" (transformers' apply_chat_template(tokenize=True)) is given for the Qwen families only: the
Llama-3 and DeepSeek tokenizers are not in shared/.
"""
import argparse
import json
import os
from pathlib import Path

from transformers import AutoTokenizer

SHARED = Path(os.environ.get("COTRAIN_SHARED") or Path(__file__).resolve().parents[2] / ".." / "shared")

# meta-llama/Meta-Llama-3-8B-Instruct, tokenizer_config.json "chat_template".
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
LLAMA3_BOS = "<|begin_of_text|>"

# deepseek-ai/DeepSeek-R1-Distill-Qwen-7B, tokenizer_config.json "chat_template".
DEEPSEEK_R1 = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='', is_first_sp=true) %}"
    "{%- for message in messages %}{%- if message['role'] == 'system' %}{%- if ns.is_first_sp %}"
    "{% set ns.system_prompt = ns.system_prompt + message['content'] %}{% set ns.is_first_sp = false %}{%- else %}"
    "{% set ns.system_prompt = ns.system_prompt + '\\n\\n' + message['content'] %}{%- endif %}{%- endif %}{%- endfor %}"
    "{{ bos_token }}{{ ns.system_prompt }}{%- for message in messages %}{%- if message['role'] == 'user' %}"
    "{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}"
    "{%- if message['role'] == 'assistant' and 'tool_calls' in message %}{%- set ns.is_tool = false -%}"
    "{%- for tool in message['tool_calls'] %}{%- if not ns.is_first %}{%- if message['content'] is none %}"
    "{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + "
    "tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + "
    "'<｜tool▁call▁end｜>'}}{%- else %}{{'<｜Assistant｜>' + message['content'] + '<｜tool▁calls▁begin｜>"
    "<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + '```json' + '\\n' + "
    "tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}{%- endif %}{%- set ns.is_first = true -%}"
    "{%- else %}{{'\\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + "
    "'```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}{%- endif %}{%- endfor %}"
    "{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}{%- if message['role'] == 'assistant' and 'tool_calls' "
    "not in message %}{%- if ns.is_tool %}{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}"
    "{%- set ns.is_tool = false -%}{%- else %}{% set content = message['content'] %}{% if '</think>' in content %}"
    "{% set content = content.split('</think>')[-1] %}{% endif %}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}"
    "{%- endif %}{%- endif %}{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}"
    "{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}"
    "{%- set ns.is_output_first = false %}{%- else %}{{'<｜tool▁output▁begin｜>' + message['content'] + "
    "'<｜tool▁output▁end｜>'}}{%- endif %}{%- endif %}{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}"
    "{% endif %}{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}"
)
DEEPSEEK_BOS = "<｜begin▁of▁sentence｜>"

# Plain ChatML with no default system turn (transformers' documented ChatML template).
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def m(role, content):
    return {"role": role, "content": content}


THINK = "<think>\nFirst, 2+2: add the units.\n\n2 + 2 = 4.\n</think>\n\nThe answer is $\\boxed{4}$."
CONVERSATIONS = [
    [m("user", "What is 2+2?"), m("assistant", "4")],
    [m("system", "You are a careful mathematician."), m("user", "What is 2+2?"), m("assistant", "4")],
    [m("system", "Be brief."), m("user", "Hi"), m("assistant", "Hello!"), m("user", "Factor 91."),
     m("assistant", "91 = 7 × 13."), m("user", "And 221?"), m("assistant", "221 = 13 × 17.")],
    [m("user", "What is 2+2?"), m("assistant", THINK)],
    [m("user", "What is 2+2?"), m("assistant", THINK), m("user", "And 3+3?"),
     m("assistant", "<think>\n3+3=6\n</think>\n\n6")],
    [m("user", "What is 2+2?"), m("assistant", THINK), m("user", "Now 3+3?")],
    [m("system", "You solve problems."), m("user", "Solve x^2 = 4.")],
    [m("user", "  Unicode: cafe\u0301, 中文, العربية, हिन्दी, 👍🏽 \n"),
     m("assistant", "\n\nLeading newlines, e\u0301 and ≯ stay.\n  ")],
    [m("system", "First system."), m("user", "Question"), m("system", "Second system."), m("assistant", "Answer")],
    [m("user", "Odd tags"), m("assistant", "<think>unfinished thought with no close")],
    [m("user", "Two closes"), m("assistant", "a</think>b</think>\n\nc")],
    [m("user", "Empty answer"), m("assistant", "")],
    [m("user", "Call a tool"), m("assistant", "<think>need data</think>calling"),
     m("user", "<tool_response>\n42\n</tool_response>"), m("assistant", "<think>\ngot 42\n</think>\n\nIt is 42.")],
    [m("user", "Special text <|im_end|> and <|endoftext|> inside"), m("assistant", "Sure <|im_start|> ok")],
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    qwen = {name: AutoTokenizer.from_pretrained(SHARED / "tokenizers" / name) for name in ["qwen2.5", "qwen3"]}
    families = [
        ("qwen2.5", qwen["qwen2.5"], None, {}),
        ("qwen3", qwen["qwen3"], None, {}),
        ("llama3", qwen["qwen2.5"], LLAMA3, {"bos_token": LLAMA3_BOS}),
        ("deepseek-r1", qwen["qwen2.5"], DEEPSEEK_R1, {"bos_token": DEEPSEEK_BOS}),
        ("chatml", qwen["qwen2.5"], CHATML, {}),
    ]
    rows = 0
    with open(out / "chat.jsonl", "w", encoding="utf-8") as f:
        for family, tokenizer, template, extra in families:
            for messages in CONVERSATIONS:
                for generation_prompt in (False, True):
                    kwargs = dict(chat_template=template, add_generation_prompt=generation_prompt, **extra)
                    text = tokenizer.apply_chat_template(messages, tokenize=False, **kwargs)
                    row = {"family": family, "messages": messages, "add_generation_prompt": generation_prompt, "text": text}
                    if template is None:
                        ids = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **kwargs)["input_ids"]
                        row["ids"] = list(ids)
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
                    rows += 1
    print(f"{rows} rendered conversations")


if __name__ == "__main__":
    main()
