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

echo "== venv and wheel"
"$PYTHON" -m venv "$WORK/venv"
# shellcheck disable=SC1091
. "$WORK/venv/bin/activate"
python -m pip install -q --upgrade pip
python -m pip wheel -q --no-deps -w "$WORK/wheels" "$ROOT"
WHEEL=$(ls "$WORK"/wheels/vani-*.whl)
python -m pip install -q "${WHEEL}[local,test,dev,db]"

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
