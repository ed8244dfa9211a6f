#!/usr/bin/env bash
# The test command: installs everything into a fresh virtual environment, builds a wheel from
# this checkout (compiling the native core), installs it, and tests the INSTALLED package —
# pytest, mypy --strict, ruff, cython-lint, and every benchmark once in quick mode.
# Needs Python >= 3.11 with venv, a C compiler and the Python headers (Debian: python3-dev).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "== venv and wheel"
"$PYTHON" -m venv "$WORK/venv"
# shellcheck disable=SC1091
. "$WORK/venv/bin/activate"
python -m pip install -q --upgrade pip
python -m pip wheel -q --no-deps -w "$WORK/wheels" "$ROOT"
WHEEL=$(ls "$WORK"/wheels/vani-*.whl)
python -m pip install -q "${WHEEL}[local,test,dev]"

echo "== static checks"
(
  cd "$ROOT"
  dirs=()
  for d in vani tests benchmarks examples; do [ -d "$d" ] && dirs+=("$d"); done
  mypy vani
  ruff check "${dirs[@]}"
  ruff format --check "${dirs[@]}"
  cython-lint csrc
)

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
