#!/usr/bin/env bash
# Installs everything cotrain needs on a fresh Debian machine (idempotent), then configures and
# builds Release into build/ (binary: build/cotrain).
#   COTRAIN_TORCH_PREFIX=/path/to/libtorch  use that libtorch (e.g. a CUDA build) instead of the wheel
#   COTRAIN_JOBS=N                           parallel build jobs (default 2)
#   COTRAIN_SKIP_INSTALL=1                   only configure and build
#   COTRAIN_MODELS=DIR                       where scripts/get_real_models.sh keeps the real checkpoints
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python_env.sh

APT_PACKAGES=(cmake ninja-build g++ pkg-config libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libsentencepiece-dev libpcre2-dev libutf8proc-dev libseccomp-dev zlib1g-dev libgtest-dev libgloo-dev
  libgoogle-perftools-dev  # tcmalloc for the cotrain executable (third_party/README.md)
  clang-14 libclang-rt-14-dev  # clang + libFuzzer/ASan runtimes: scripts/fuzz.sh
  jq)  # scripts/reproduce_structure_vs_content.sh reads the run files
# Headless Chromium loads `cotrain report`'s page in tests/e2e/report_test.sh; installed without the
# desktop extras it recommends (printing, Samba, Avahi).
APT_NO_RECOMMENDS=(chromium)

if [ "${COTRAIN_SKIP_INSTALL:-0}" != 1 ]; then
  installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
  missing=() missing_bare=()
  for p in "${APT_PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
  for p in "${APT_NO_RECOMMENDS[@]}"; do installed "$p" || missing_bare+=("$p"); done
  if [ $((${#missing[@]} + ${#missing_bare[@]})) -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]} ${missing_bare[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    [ ${#missing[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
    [ ${#missing_bare[@]} -eq 0 ] ||
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing_bare[@]}" >/dev/null
  fi
  if [ -z "${COTRAIN_TORCH_PREFIX:-}" ] && ! python3 -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' 2>/dev/null; then
    echo "setup: installing torch==2.13.0"
    python3 -m pip install -q torch==2.13.0
  fi
  # Reference packages for the parity tests; pip does nothing when they are already there.
  python3 -m pip install -q -r scripts/reference/requirements.txt
  # Real checkpoints for the generation parity tests and demos (cached; converted once, ~1.5 min).
  scripts/get_real_models.sh
fi

prefix="${COTRAIN_TORCH_PREFIX:-$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')}"
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
fi
cmake --build build -j "${COTRAIN_JOBS:-2}"
echo "setup: built $(pwd)/build/cotrain"
