# Sourced by scripts/test and scripts/bench (from the repository root): finds a Python 3.10+
# to bootstrap with, puts the pyenv CPythons 3.10-3.13 on PATH (hatch.toml never downloads a
# Python), creates or reuses .venv/tools with the pinned hatch, and points hatch at .hatch/.
# Sets BOOT, CPYTHONS, TOOLS, HATCH and drop_noise().

# pip on this machine image warns about optional local package folders that do not exist;
# the line says nothing about the project, so it is dropped from the log.
drop_noise() { grep -v --line-buffered "^WARNING: Location '.*' is ignored: it is neither a file nor a directory.$"; }

# Python for the bootstrap venv: the machine's default python3 if it is 3.10+ (looked up
# before the pyenv folders are put first on PATH).
BOOT=""
for candidate in python3 python3.13 python3.12 python3.11 python3.10; do
  if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1; then
    BOOT=$(command -v "$candidate"); break
  fi
done

# --- 1. CPythons on PATH ------------------------------------------------------------------
CPYTHONS=(3.10 3.11 3.12 3.13)
PYENV_VERSIONS=${PYENV_ROOT:-$HOME/.pyenv}/versions
for v in "${CPYTHONS[@]}"; do
  bin=$(ls -d "$PYENV_VERSIONS/$v".*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$bin" ]; then PATH="$bin:$PATH"; fi
done
export PATH
have_python() { "python$1" -c 'import sys' >/dev/null 2>&1; }

# --- 2. bootstrap venv with hatch ------------------------------------------------------------
TOOLS=.venv/tools
REQS=scripts/requirements-tools.txt
if ! "$TOOLS/bin/python" -c 'import hatch' >/dev/null 2>&1 || ! cmp -s "$REQS" "$TOOLS/requirements-tools.txt"; then
  if [ -z "$BOOT" ]; then echo "$(basename "$0"): needs Python 3.10 or newer to bootstrap hatch" >&2; exit 2; fi
  echo "== bootstrap: $TOOLS with $($BOOT --version) and $REQS"
  rm -rf "$TOOLS"
  "$BOOT" -m venv "$TOOLS" || exit 2
  "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQS" 2>&1 | drop_noise
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "$(basename "$0"): installing $REQS failed" >&2; exit 2; }
  cp "$REQS" "$TOOLS/requirements-tools.txt"
fi
HATCH=("$TOOLS/bin/hatch")

export HATCH_DATA_DIR="$ROOT/.hatch/data"
export HATCH_CACHE_DIR="$ROOT/.hatch/cache"
export PIP_DISABLE_PIP_VERSION_CHECK=1
unset HATCH_PYTHON HATCH_ENV_ACTIVE  # they would override the matrix's Python
mkdir -p test-artifacts

