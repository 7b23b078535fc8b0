# Sourced by setup.sh, test.sh and quickstart.sh: puts first on PATH a python3 that pip may install
# into (torch provides the CMake files; the reference scripts run the Python peers). A
# distribution's own python3 is "externally managed" (PEP 668) and refuses pip installs, so then
# pyenv's interpreter is used when there is one, else a virtual environment in .venv/.
_cotrain_managed() {
  python3 - <<'PY' 2>/dev/null
import os, sys, sysconfig
sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["stdlib"], "EXTERNALLY-MANAGED")) else 1)
PY
}
if command -v python3 >/dev/null && _cotrain_managed; then
  if [ -x "$HOME/.pyenv/shims/python3" ]; then
    export PATH="$HOME/.pyenv/shims:$PATH"
  else
    _venv="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv"
    if [ ! -x "$_venv/bin/python3" ]; then
      python3 -m venv "$_venv" 2>/dev/null || {
        SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
        $SUDO apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$_venv"
      }
    fi
    export PATH="$_venv/bin:$PATH"
  fi
fi
unset -f _cotrain_managed
