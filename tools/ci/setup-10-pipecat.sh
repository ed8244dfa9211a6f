# Sourced by tools/test.sh. Pipecat 1.14 in a venv of its own (never a dependency of vani), for
# the interop tests (Pipecat's own clients against vani) and the side-by-side benchmarks.
# A developer who already has one sets VANI_PIPECAT_PYTHON and this step is skipped.
if [ -z "${VANI_PIPECAT_PYTHON:-}" ]; then
  "$PYTHON" -m venv "$WORK/pipecat-venv"
  "$WORK/pipecat-venv/bin/pip" install -q --upgrade pip
  "$WORK/pipecat-venv/bin/pip" install -q "pipecat-ai[websocket,silero,openai,sarvam]==1.14.0" \
    "pipecat-ai-prebuilt==1.3.0"
  export VANI_PIPECAT_PYTHON="$WORK/pipecat-venv/bin/python"
fi
"$VANI_PIPECAT_PYTHON" -c 'import pipecat; print("pipecat", pipecat.__version__)'
# The built vani wheel beside Pipecat (its own folder, so a shared Pipecat venv stays clean), for
# the tests of vani.contrib.pipecat, which run inside Pipecat's process.
"$VANI_PIPECAT_PYTHON" -m pip install -q --no-deps --target "$WORK/vani-for-pipecat" "$WHEEL"
export VANI_PIPECAT_VANI="$WORK/vani-for-pipecat"
