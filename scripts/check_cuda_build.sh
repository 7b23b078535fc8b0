#!/usr/bin/env bash
# Checks, without a GPU, that every source of cotrain compiles against a CUDA build of libtorch:
# downloads the CUDA 13 torch wheel and the headers of the CUDA libraries it uses (cuBLAS,
# cuSPARSE, cuSOLVER, NVRTC, NCCL), configures build-cuda/ with the machine's nvcc for sm_90
# (H100/H200), and compiles every object file (libraries, the CLI, tests, benchmarks) without
# linking: linking needs the full NVIDIA runtime libraries, which a CPU machine has no use for.
# Then the release's NVRTC compiles the formulas that torch's jiterator compiles at run time.
#
#   COTRAIN_CUDA_TORCH=V        the torch release whose CUDA libtorch to compile against (default
#                               2.14.1; 2.11.0 is the lent H200's, scripts/gpu_check.sh)
#   COTRAIN_JOBS=N              parallel compile jobs (default 2)
#   COTRAIN_CUDA_BUILD_DIR=DIR  the build directory (default build-cuda)
#   CUDACXX=PATH                nvcc (default /usr/local/cuda/bin/nvcc)
#
# Downloads are cached in .whl/ (git-ignored; about 1.6 GB of wheels, 1.1 GB unpacked). Takes the
# machine's build lock (/tmp/cotrain-build.lock) for configuring and compiling.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python_env.sh

TORCH=torch==${COTRAIN_CUDA_TORCH:-2.14.1}  # a CUDA 13.0 wheel; the header wheels below are the versions 2.14.1 requires
HEADER_WHEELS=(nvidia-cublas==13.1.1.3 nvidia-cusparse==12.6.3.3 nvidia-cusolver==12.0.4.66
  nvidia-cuda-nvrtc==13.0.88 nvidia-nccl-cu13==2.30.7)
CACHE=.whl
UNPACKED="$CACHE/cuda-${TORCH#torch==}"
BUILD="${COTRAIN_CUDA_BUILD_DIR:-build-cuda}"
NVCC="${CUDACXX:-/usr/local/cuda/bin/nvcc}"
[ -x "$NVCC" ] || { echo "check_cuda_build: no nvcc at $NVCC (set CUDACXX)" >&2; exit 2; }
cuda_root="$(dirname "$(dirname "$(readlink -f "$NVCC")")")"  # /usr/local/cuda-13.0

seconds() { date +%s.%N; }
t0=$(seconds)
python3 -m pip download -q --no-deps -d "$CACHE" "$TORCH" "${HEADER_WHEELS[@]}"
t_download=$(seconds)

# torch/{include,lib,share} of the torch wheel, nvidia/*/include (and libnvrtc) of the others, unpacked once into
# a temporary directory that is renamed into place when complete.
if [ ! -d "$UNPACKED" ]; then
  rm -rf "$UNPACKED.tmp"
  python3 - "$CACHE" "$UNPACKED.tmp" "${TORCH#torch==}" <<'PY'
import glob, os, sys, zipfile
cache, dest, version = sys.argv[1:]
wheels = glob.glob(os.path.join(cache, f"torch-{version}-*.whl"))
assert len(wheels) == 1, f"expected one torch {version} wheel in {cache}, found {wheels}"
for name in wheels + glob.glob(os.path.join(cache, "nvidia_*.whl")):
    with zipfile.ZipFile(name) as z:
        # libnvrtc too: torch's CMake files name it on cotrain_model's link line (never linked
        # here), and with its builtins it compiles the jiterator's formulas below.
        members = [m for m in z.infolist()
                   if m.filename.startswith(("torch/include/", "torch/lib/", "torch/share/"))
                   or (m.filename.startswith("nvidia/") and "/include/" in m.filename)
                   or m.filename.endswith(("/lib/libnvrtc.so.13", "/lib/libnvrtc-builtins.so.13.0"))]
        z.extractall(dest, members)
PY
  mv "$UNPACKED.tmp" "$UNPACKED"
fi
t_unpack=$(seconds)

root="$(pwd)/$UNPACKED"
# The CUDA headers torch's own headers include (cublas_v2.h, cusparse.h, cusolverDn.h, nvrtc.h,
# nccl.h) come from the wheels: -isystem for the host compiler, and nvcc passes it on.
cuda_includes=""
for dir in "$root"/nvidia/*/include; do cuda_includes+=" -isystem $dir"; done

# One build at a time on the machine: hold the build lock for configuring and compiling (the
# times below start once it is held).
exec 9>/tmp/cotrain-build.lock
flock 9
t_lock=$(seconds)
mkdir -p "$BUILD"
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" \
  -DCMAKE_PREFIX_PATH="$root/torch/share/cmake" \
  -DCMAKE_CUDA_COMPILER="$NVCC" -DCUDA_TOOLKIT_ROOT_DIR="$cuda_root" -DCUDAToolkit_ROOT="$cuda_root" \
  -DTORCH_CUDA_ARCH_LIST=9.0 -DCUDA_nvrtc_LIBRARY="$root/nvidia/cu13/lib/libnvrtc.so.13" \
  -DCMAKE_CUDA20_STANDARD_COMPILE_OPTION=-std=c++20 -DCMAKE_CUDA20_EXTENSION_COMPILE_OPTION=-std=c++20 \
  -DCMAKE_CXX_FLAGS="$cuda_includes" -DCMAKE_CUDA_FLAGS="$cuda_includes" \
  -DCMAKE_EXE_LINKER_FLAGS=-Wl,--allow-shlib-undefined >"$BUILD/configure.log" 2>&1 \
  || { tail -40 "$BUILD/configure.log" >&2; echo "check_cuda_build: configure failed ($BUILD/configure.log)" >&2; exit 1; }
# The CUDA libtorch really is the one in use (its CUDA library is on the link lines), with NCCL, so
# the NCCL code paths are compiled too.
grep -q 'libtorch_cuda.so' "$BUILD/build.ninja" || { echo "check_cuda_build: $BUILD does not use libtorch_cuda" >&2; exit 1; }
grep -q 'c10d backends: gloo, nccl' "$BUILD/configure.log" ||
  { echo "check_cuda_build: configured without NCCL ($BUILD/configure.log)" >&2; exit 1; }
t_configure=$(seconds)

# Every object file Ninja knows of (all targets, the ones excluded from `all` too). Nothing is
# linked, except an executable that another target's objects are ordered after (add_dependencies:
# tests/train_dist_worker before train_tests); --allow-shlib-undefined lets that link go through
# without the NVIDIA libraries libtorch_cuda needs at run time (ld warns that they are not found).
mapfile -t objects < <(ninja -C "$BUILD" -t targets all | sed -n 's/^\(.*\.o\): .*/\1/p')
[ ${#objects[@]} -gt 0 ] || { echo "check_cuda_build: no object files in $BUILD" >&2; exit 1; }
ninja -C "$BUILD" -k 0 -j "${COTRAIN_JOBS:-2}" "${objects[@]}"  # -k 0: every failure, not the first
t_compile=$(seconds)
flock -u 9

# The formulas a CUDA build hands to torch's jiterator (include/cotrain/model/gpu_formulas.h) are
# compiled at run time, so the build above never sees them: compile them here with the NVRTC of
# the same release, as the jiterator does (std's math from the global namespace, -default-device,
# C++17), instantiated at fp32 (its arithmetic for bf16 and fp32 tensors) and fp64.
formulas="$BUILD/gpu_formulas"
g++ -std=c++20 -Iinclude -x c++ - -o "$formulas" <<'CPP'
#include <cstdio>
#include <initializer_list>
#include "cotrain/model/gpu_formulas.h"
int main() {
  using namespace cotrain::gpu_formulas;
  for (const char* text : {kSwigluText, kSwigluBackwardText, kSwigluBackwardAndProductText, kRotaryText}) std::printf("%s\n", text);
}
CPP
nvrtc_lib="$root/nvidia/cu13/lib"
"$formulas" >"$formulas.txt"
LD_LIBRARY_PATH="$nvrtc_lib" python3 - "$nvrtc_lib/libnvrtc.so.13" "$formulas.txt" <<'PY'
import ctypes, sys
nvrtc = ctypes.CDLL(sys.argv[1])
source = "namespace std { using ::exp; }\n" + open(sys.argv[2]).read() + r"""
template <typename T> void every_formula(T* x) {
  T p, g, u;
  x[0] = cotrain_swiglu<T>(x[1], x[2]);
  cotrain_swiglu_backward<T>(x[3], x[1], x[2], g, u);
  cotrain_swiglu_backward_and_product<T>(x[3], x[1], x[2], p, x[4], x[5]);
  x[6] = p + g + u;
  cotrain_rotary<T>(x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8]);
}
extern "C" __global__ void formulas(float* x, double* y) {
  every_formula(x);
  every_formula(y);
}
"""
program = ctypes.c_void_p()
assert nvrtc.nvrtcCreateProgram(ctypes.byref(program), source.encode(), b"gpu_formulas.cu", 0, None, None) == 0
options = [b"--gpu-architecture=compute_90", b"--std=c++17", b"-default-device"]
status = nvrtc.nvrtcCompileProgram(program, len(options), (ctypes.c_char_p * len(options))(*options))
size = ctypes.c_size_t()
nvrtc.nvrtcGetProgramLogSize(program, ctypes.byref(size))
log = ctypes.create_string_buffer(size.value)
nvrtc.nvrtcGetProgramLog(program, log)
if status != 0:
    sys.exit(f"check_cuda_build: NVRTC rejects include/cotrain/model/gpu_formulas.h's formulas:\n{log.value.decode()}")
PY

awk -v n=${#objects[@]} -v torch="$TORCH" -v a="$t0" -v b="$t_download" -v c="$t_unpack" -v l="$t_lock" -v d="$t_configure" -v e="$t_compile" 'BEGIN {
  printf "check_cuda_build: all %d objects compile for sm_90 against the CUDA libtorch of %s, and its NVRTC compiles the jiterator formulas; download %.0f s, unpack %.0f s, waiting for the build lock %.0f s, configure %.0f s, compile %.0f s\n",
         n, torch, b - a, c - b, l - c, d - l, e - d }'
