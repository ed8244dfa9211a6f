#!/usr/bin/env bash
# The test command: installs everything into a fresh virtual environment, builds a wheel from
# this checkout (compiling the native core), installs it, and tests the INSTALLED package —
# pytest, mypy --strict, ruff, cython-lint, and every benchmark once in quick mode.
# Needs Python >= 3.11 with venv, a C compiler and the Python headers (Debian: python3-dev).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d)
# Cleanup steps registered by the setup scripts (servers they started), run in reverse order.
CI_CLEANUP=()
ci_on_exit() { CI_CLEANUP+=("$1"); }
ci_exit() {
  local i
  for ((i = ${#CI_CLEANUP[@]} - 1; i >= 0; i--)); do eval "${CI_CLEANUP[$i]}" || true; done
  rm -rf "$WORK"
}
trap ci_exit EXIT
# apt-get update runs at most once per run, and only when a setup script needs a package.
CI_APT_UPDATED=0
ci_apt() {
  local missing=()
  local p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$CI_APT_UPDATED" -eq 0 ]; then apt-get update -qq; CI_APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

echo "== wheels: manylinux for every CPython here, and the sdist (which must build too)"
VANI_CHECK_SDIST=1 bash "$ROOT/tools/build_wheels.sh" "$WORK/wheelhouse"
PYTAG=$("$PYTHON" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
WHEEL=$(ls "$WORK"/wheelhouse/vani-*-"$PYTAG"-"$PYTAG"-manylinux*.whl)

echo "== venv: the repaired wheel, installed with no compiler on PATH"
# Users install on servers without build tools: every compiler name resolves to a stub that fails,
# so anything that tried to compile during this install would break it.
mkdir -p "$WORK/nocc"
for cc in cc gcc g++ c++ cpp clang clang++ x86_64-linux-gnu-gcc x86_64-linux-gnu-g++ \
  aarch64-linux-gnu-gcc aarch64-linux-gnu-g++; do
  printf '#!/bin/sh\necho "no compiler: %s called during the wheel install" >&2\nexit 1\n' "$cc" \
    >"$WORK/nocc/$cc"
  chmod +x "$WORK/nocc/$cc"
done
"$PYTHON" -m venv "$WORK/venv"
# shellcheck disable=SC1091
. "$WORK/venv/bin/activate"
python -m pip install -q --upgrade pip
PATH="$WORK/nocc:$PATH" CC="$WORK/nocc/cc" CXX="$WORK/nocc/c++" \
  python -m pip install -q "${WHEEL}[local,test,dev,db]"

echo "== the other CPython wheels import their compiled core"
for other in "$WORK"/wheelhouse/vani-*-manylinux*.whl; do
  [ "$other" = "$WHEEL" ] && continue
  tag=$(basename "$other" | cut -d- -f3)
  py=""
  for cand in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"${tag:2:1}.${tag:3}".*/bin/python3 \
    "python${tag:2:1}.${tag:3}"; do
    # A pyenv shim is on PATH even for versions it will refuse to run: try each candidate.
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import venv' 2>/dev/null; then
      py=$(command -v "$cand")
      break
    fi
  done
  [ -n "$py" ] || { echo "   $tag: no interpreter to try it with"; continue; }
  "$py" -m venv "$WORK/smoke-$tag"
  PATH="$WORK/nocc:$PATH" "$WORK/smoke-$tag/bin/pip" install -q --no-deps "$other" numpy >/dev/null
  (cd "$WORK" && "$WORK/smoke-$tag/bin/python" -c '
import vani._core.pcm as p, vani._core.vad, vani._core.queue, vani._core.processor
import vani._core.resample, vani._core.ring, vani._core.chunker
assert p.ulaw_decode(p.ulaw_encode(b"\x00\x10" * 80)) and "site-packages" in p.__file__
print("   ok:", p.__file__.rsplit("/", 1)[-1])')
done

echo "== static checks"
(
  cd "$ROOT"
  dirs=()
  for d in vani tests benchmarks examples; do [ -d "$d" ] && dirs+=("$d"); done
  mypy vani
  ruff check "${dirs[@]}"
  ruff format --check "${dirs[@]}"
  cython-lint csrc
  # The documentation site, warnings as errors (mkdocs.yml sets strict).
  NO_MKDOCS_2_WARNING=1 mkdocs build --strict -q -d "$WORK/site"
)

echo "== services and peers the tests need (tools/ci/setup-*.sh)"
# Each script is sourced in this shell: it may install apt packages (ci_apt), start a server on
# 127.0.0.1, export what the tests read (DATABASE_URL, VANI_PIPECAT_PYTHON, ...) and register its
# cleanup with ci_on_exit.
for setup in "$ROOT"/tools/ci/setup-*.sh; do
  [ -e "$setup" ] || continue
  echo "-- $(basename "$setup")"
  # shellcheck disable=SC1090
  . "$setup"
done

echo "== tests (installed package)"
cd "$WORK"
export VANI_TEST_INSTALLED=1
set +e
pytest -c "$ROOT/pyproject.toml" --rootdir "$ROOT" "$ROOT/tests" -q
rc=$?
set -e
if [ $rc -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
[ $rc -eq 0 ] || exit $rc

# The tests of the core and of what sits on it; tests/conftest.py (COMPILED_PASS_ONLY) names
# what the first pass alone runs.
echo "== tests again, on the pure-Python fallback of the core (VANI_PURE_PYTHON=1)"
set +e
VANI_PURE_PYTHON=1 pytest -c "$ROOT/pyproject.toml" --rootdir "$ROOT" "$ROOT/tests" -q \
  -W "ignore:vani runs on its pure-Python core:RuntimeWarning"
rc=$?
set -e
[ $rc -eq 0 ] || exit $rc

echo "== benchmarks (quick mode: each runs once, unmeasured)"
set +e
pytest -c "$ROOT/pyproject.toml" --rootdir "$ROOT" "$ROOT/benchmarks" -q --benchmark-disable
rc=$?
set -e
if [ $rc -eq 5 ]; then
  echo "error: no benchmarks collected" >&2
  exit 1
fi
exit $rc
