#!/usr/bin/env bash
# The GPU checks (issue 13, item 5) as one run on a lent GPU machine: the device tool's
# nvidia-h200, whose image has nvcc, CMake, Ninja and a CUDA PyTorch (libtorch) but none of
# Debian's -dev packages cotrain builds against, and no network.
#
#   scripts/gpu_check.sh prepare   here: Debian's packages (bookworm .debs, unpacked there into
#                                  a private prefix, never into /) and the Qwen tokenizer into .gpu/
#   scripts/gpu_check.sh run       there (carry .gpu): builds cotrain, model_tests, train_tests and
#                                  bench_train_step for the machine's GPU against python3's torch,
#                                  then checks and measures; results in $OUT (or .gpu/out)
#
# What `run` checks and measures, in this order (each check runs to its end even when one before it
# failed; the exit status says whether all passed):
#   cuda_unit_tests   the CUDA tests of model_tests and train_tests (varlen flash attention
#                     against per-document SDPA, values and gradients; decoding with a KV cache runs
#                     no cuDNN attention; the fused norm, SwiGLU and LoRA kernels; the gradient
#                     norm's multi-tensor sum); a skipped one fails the check
#   benchmark         bench_train_step on cuda: Qwen2.5-0.5B and 1.5B shapes, 16,384 packed tokens
#                     (one document, 8 of 2,048), full SFT and LoRA rank 64, bf16: tokens/s, peak
#                     tensor memory, MFU against the datasheet's dense bf16 peak
#                     (GPU_CHECK_SPEC_TFLOPS, default 989: H100/H200 SXM); and 0.5B SFT rows of one
#                     document whose length changes every step, flash kernel against SDPA (cuDNN)
#   profile           GPU self time per operator of an SFT and a LoRA step
#   cpu_against_cuda  the tiny model's log-probabilities (`cotrain score`, <= 1e-4 apart) and 4
#                     steps of `cotrain sft` and `cotrain lora` (loss and gradient norm <= 1e-4
#                     relative) on cuda against cpu in fp32 (the GPU sums in another order)
#   bf16_on_cuda      bf16 sft with activation checkpointing, then greedy generation on cuda
#                     (>= 500 tokens/s: decoding without cuDNN's per-shape attention plans)
#   peers             the 0.5B steps against transformers (+ peft) on the GPU, same run
# GPU_CHECKS="check ..." runs those only, GPU_BENCH_SIZES="0.5b" benchmarks that size only. On the
# lent H200 (2026-12-04) the build took 133 s and all six checks about 4 minutes
# (docs/performance.md, "GPU check").
set -euo pipefail
cd "$(dirname "$0")/.."
GPU=.gpu

# Every -dev package cotrain's CMake looks for (scripts/setup.sh's list, less what only CI and
# the fuzzers use), the libraries their .so links point at, and pkg-config.
DEBS=(libcli11-dev libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 nlohmann-json3-dev libsentencepiece-dev
  libsentencepiece0 libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 libutf8proc-dev libutf8proc2
  libseccomp-dev libseccomp2 zlib1g-dev zlib1g libgtest-dev googletest libgloo-dev pkgconf pkgconf-bin libpkgconf3)

prepare() {
  local shared="${COTRAIN_SHARED:-../shared}"
  rm -rf "$GPU/debs" "$GPU/tokenizer"
  mkdir -p "$GPU/debs" "$GPU/tokenizer"
  grep -qxF "/$GPU/" .git/info/exclude 2>/dev/null || echo "/$GPU/" >>.git/info/exclude
  (cd "$GPU/debs" && apt-get download -qq "${DEBS[@]}")
  cp "$shared"/tokenizers/qwen2.5/tokenizer.json "$shared"/tokenizers/qwen2.5/tokenizer_config.json "$GPU/tokenizer/"
  echo "gpu_check: $(du -sh "$GPU" | cut -f1) in $GPU; on the GPU machine: scripts/gpu_check.sh run (carry $GPU)"
}

run() {
  local deps t0
  out="${OUT:-$GPU/out}" build=build-gpu
  [ -d "$GPU/debs" ] || { echo "gpu_check: no $GPU/debs: run scripts/gpu_check.sh prepare here first" >&2; exit 2; }
  mkdir -p "$out"
  exec > >(tee "$out/gpu_check.log") 2>&1
  t0=$(date +%s)
  step() { echo "== $(($(date +%s) - t0)) s: $*"; }
  nvidia-smi -L
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())'

  step "Debian packages into a private prefix"
  deps=/tmp/cotrain-deps
  for f in "$GPU"/debs/*.deb; do dpkg -x "$f" "$deps"; done
  local lib="$deps/usr/lib/x86_64-linux-gnu"
  export PATH="$deps/usr/bin:$PATH" LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PKG_CONFIG_LIBDIR="$lib/pkgconfig:$deps/usr/share/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$deps"
  # libpkgconf's own .so link and the -dev packages' absolute .so links point into /usr.
  for link in "$lib"/*.so; do
    [ -L "$link" ] && [[ "$(readlink "$link")" == /* ]] && ln -sf "$deps$(readlink "$link")" "$link"
  done

  step "configure"
  local torch_dir site nvcc cuda_includes="" nvrtc
  torch_dir="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"
  site="$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  nvcc="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
  for dir in "$site"/nvidia/*/include "$site"/nvidia/cu*/include; do [ -d "$dir" ] && cuda_includes+=" -isystem $dir"; done
  nvrtc="$(ls "$site"/nvidia/*/lib/libnvrtc.so* 2>/dev/null | head -1 || true)"
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$torch_dir;$deps/usr" \
    -DCMAKE_CUDA_COMPILER="$nvcc" -DTORCH_CUDA_ARCH_LIST=9.0 ${nvrtc:+-DCUDA_nvrtc_LIBRARY="$nvrtc"} \
    -DCMAKE_CUDA20_STANDARD_COMPILE_OPTION=-std=c++20 -DCMAKE_CUDA20_EXTENSION_COMPILE_OPTION=-std=c++20 \
    -DCMAKE_CXX_FLAGS="$cuda_includes" -DCMAKE_CUDA_FLAGS="$cuda_includes" \
    -DCMAKE_EXE_LINKER_FLAGS="-Wl,--allow-shlib-undefined -Wl,--no-as-needed" >"$out/configure.log" 2>&1 ||
    { tail -40 "$out/configure.log"; echo "gpu_check: configure failed"; exit 1; }
  grep -E 'c10d backends|CUDA' "$out/configure.log" | head -5
  step "build"
  ninja -C "$build" -k 0 -j "$(nproc)" cotrain model_tests train_tests bench_train_step >"$out/build.log" 2>&1 ||
    { grep -m5 -B2 -A10 'error' "$out/build.log"; echo "gpu_check: build failed"; exit 1; }

  # The tiny model and data the checks share (CPU work).
  c="$build/cotrain"
  work="$(mktemp -d)"
  "$c" data synth --out "$work/traces.jsonl" --n 24 --seed 1
  "$c" init-model --arch qwen2 --preset tiny --seed 0 --out "$work/model" --tokenizer "$GPU/tokenizer"
  "$c" data prepare --data "$work/traces.jsonl" --tokenizer "$work/model" --out "$work/cache" --cutoff 1024 --cutoff-policy truncate
  cat >"$work/tiny.json" <<JSON
{"model": {"path": "$work/model", "dtype": "fp32"},
 "data": {"path": "$work/cache", "cutoff": 1024, "val_fraction": 0},
 "train": {"max_steps": 4, "global_batch": 4, "micro_batch": 2, "lr": 1e-3, "warmup_ratio": 0}}
JSON

  # Each check runs to its end even when one before it failed: a device run is too dear to lose
  # the benchmark to a parity failure.
  local failed=() code
  for check in ${GPU_CHECKS:-cuda_unit_tests benchmark profile cpu_against_cuda bf16_on_cuda peers}; do
    step "$check"
    set +e
    (set -e; "$check")
    code=$?
    set -e
    [ "$code" = 0 ] || { echo "gpu_check: $check FAILED (exit $code)"; failed+=("$check"); }
  done
  step "done${failed[*]:+; failed: ${failed[*]}}"
  [ ${#failed[@]} = 0 ]
}

# A test that skips (no CUDA seen: libtorch_cuda not linked, say) fails the check.
cuda_unit_tests() {
  "$build"/tests/model_tests --gtest_filter='*Cuda*:*CUDA*' | tee "$work/unit.log"
  "$build"/tests/train_tests --gtest_filter='*Cuda*:*CUDA*' | tee -a "$work/unit.log"
  ! grep -q SKIPPED "$work/unit.log"
}

# The tiny model in fp32 on cuda and on cpu: per-token log-probabilities, 4 steps of sft and lora.
cpu_against_cuda() {
  head -4 "$work/traces.jsonl" | python3 -c 'import json, sys
for line in sys.stdin: print(json.dumps({"text": json.loads(line)["conversations"][1]["value"]}))' >"$work/texts.jsonl"
  for dev in cpu cuda; do
    "$c" score --model "$work/model" --dtype float32 --device "$dev" --input "$work/texts.jsonl" --out "$work/score-$dev.jsonl"
    "$c" --log-level warn sft --config "$work/tiny.json" --set model.device="$dev" --out "$work/sft-$dev"
    "$c" --log-level warn lora --config "$work/tiny.json" --rank 8 --set model.device="$dev" --out "$work/lora-$dev"
  done
  python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
rows = lambda f: [json.loads(l) for l in open(f)]
worst = 0.0
for a, b in zip(rows(f"{w}/score-cpu.jsonl"), rows(f"{w}/score-cuda.jsonl")):
    assert len(a["logprobs"]) == len(b["logprobs"]) > 100, (len(a["logprobs"]), len(b["logprobs"]))
    worst = max(worst, max(abs(x - y) for x, y in zip(a["logprobs"], b["logprobs"])))
print(f"score: cpu and cuda log-probs differ by <= {worst:.2e}")
assert worst <= 1e-4, worst
for run in ("sft", "lora"):
    a = [l for l in rows(f"{w}/{run}-cpu/metrics.jsonl") if "loss" in l]
    b = [l for l in rows(f"{w}/{run}-cuda/metrics.jsonl") if "loss" in l]
    assert len(a) == len(b) == 4, (run, len(a), len(b))
    rel = max(abs(x[k] - y[k]) / abs(x[k]) for x, y in zip(a, b) for k in ("loss", "grad_norm"))
    print(f"{run}: 4 steps, cpu and cuda loss/grad_norm differ by <= {rel:.2e} relative; "
          f"peak device memory {b[-1].get('peak_device_memory_mib')} MiB")
    assert rel <= 1e-4, (run, rel)
    assert "peak_device_memory_mib" in b[-1] and "peak_device_memory_mib" in json.load(open(f"{w}/{run}-cuda/run.json"))
PY
}

# bf16 on cuda: sft with activation checkpointing, then greedy generation from its model.
bf16_on_cuda() {
  "$c" --log-level warn sft --config "$work/tiny.json" --set model.device=cuda --set model.dtype=bf16 \
    --set train.activation_checkpointing=true --set train.max_steps=8 --out "$work/sft-bf16"
  tail -1 "$work/sft-bf16/metrics.jsonl"
  head -4 "$work/traces.jsonl" | python3 -c 'import json, sys
for line in sys.stdin: print(json.dumps({"prompt": json.loads(line)["conversations"][0]["value"]}))' >"$work/prompts.jsonl"
  "$c" generate --model "$work/sft-bf16/final" --device cuda --input "$work/prompts.jsonl" --out "$work/gen.jsonl" \
    --max-new-tokens 64 2>&1 | tee "$work/gen.log"
  [ "$(wc -l <"$work/gen.jsonl")" = 4 ] || { echo "gpu_check: generation wrote $(wc -l <"$work/gen.jsonl") lines"; exit 1; }
  # 38.7 tokens/s on the H200 when every decode step built a cuDNN plan (2026-12-04), 137 on a
  # 2-core CPU; without the plans a step of this model is a few milliseconds of kernel launches.
  python3 - "$work/gen.log" <<'PY'
import re, sys
rate = float(re.findall(r"\(([0-9.]+) tokens/s\)", open(sys.argv[1]).read())[-1])
print(f"generation on cuda: {rate:.1f} tokens/s (needs >= 500)")
assert rate >= 500, rate
PY
}

# The training benchmark: Qwen2.5-0.5B and 1.5B shapes, 16,384 packed tokens (one document, 8 of
# 2,048), bf16.
benchmark() {
  local failures=""
  for size in ${GPU_BENCH_SIZES:-0.5b 1.5b}; do
    for mode in sft lora; do
      for docs in 1 8; do
        "$build"/benchmarks/bench_train_step --device cuda --size "$size" --mode "$mode" --dtype bf16 --tokens 16384 \
          --docs "$docs" --steps 5 --spec-tflops "${GPU_CHECK_SPEC_TFLOPS:-989}" | tee -a "$out/bench.jsonl" ||
          { echo "gpu_check: bench_train_step $size $mode $docs failed"; failures=1; }
      done
    done
  done
  # Unpacked training: one document a step, of a new length each step, through the varlen flash
  # kernel (what the decoder takes) and through SDPA (cuDNN's attention, a plan per length).
  for sdpa_only in 0 1; do
    "$build"/benchmarks/bench_train_step --device cuda --mode sft --dtype bf16 --tokens 16384 --steps 5 --vary-lengths 1 \
      --sdpa-only "$sdpa_only" --spec-tflops "${GPU_CHECK_SPEC_TFLOPS:-989}" | tee -a "$out/bench.jsonl" ||
      { echo "gpu_check: bench_train_step --vary-lengths 1 --sdpa-only $sdpa_only failed"; failures=1; }
  done
  [ -z "${failures:-}" ]
}

# Where a step's GPU time goes: operators by self time between CUDA events (full SFT, 8 documents;
# LoRA, one), the last of 3 steps.
profile() {
  "$build"/benchmarks/bench_train_step --device cuda --mode sft --dtype bf16 --tokens 16384 --docs 8 --steps 2 --profile-table 40
  "$build"/benchmarks/bench_train_step --device cuda --mode lora --dtype bf16 --tokens 16384 --docs 1 --steps 2 --profile-table 25
}

# The same steps against transformers (+ peft) on the GPU in the same run: 0.5B, one 16,384-token document.
peers() {
  for mode in sft lora; do
    python3 scripts/reference/bench_train_step.py --device cuda --mode "$mode" --tokens 16384 --steps 3 \
      --binary "$build/benchmarks/bench_train_step" | tee -a "$out/peers.md"
  done
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: scripts/gpu_check.sh prepare|run" >&2; exit 2 ;;
esac
