#!/usr/bin/env bash
# Builds the compiled core in place (vani/_core/*.so, vani/models/) for development and tests run
# from the source tree: `bash tools/devbuild.sh` then `PYTHONPATH=. pytest`. CI builds a wheel instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
MODDIR=$("$PY" -c 'import cython_cmake, os; print(os.path.join(os.path.dirname(cython_cmake.__file__), "cmake"))')
GEN=()
command -v ninja >/dev/null 2>&1 && GEN=(-G Ninja)
cmake -S . -B build/dev "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DPython_EXECUTABLE="$(command -v "$PY")" -DCMAKE_MODULE_PATH="$MODDIR" >/dev/null
cmake --build build/dev
cmake --install build/dev --prefix . >/dev/null
