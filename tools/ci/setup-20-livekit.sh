# Sourced by tools/test.sh. LiveKit Agents 1.8 and its Silero plugin in a venv of their own (never
# a dependency of vani's test venv), with the built vani wheel beside them, for
# tests/contrib/test_livekit_vad.py. A developer who already has one sets VANI_LIVEKIT_PYTHON.
if [ -z "${VANI_LIVEKIT_PYTHON:-}" ]; then
  "$PYTHON" -m venv "$WORK/livekit-venv"
  "$WORK/livekit-venv/bin/pip" install -q --upgrade pip
  "$WORK/livekit-venv/bin/pip" install -q "livekit-agents==1.8.9" "livekit-plugins-silero==1.8.9"
  export VANI_LIVEKIT_PYTHON="$WORK/livekit-venv/bin/python"
fi
"$VANI_LIVEKIT_PYTHON" -m pip install -q --no-deps --target "$WORK/vani-for-livekit" "$WHEEL"
export VANI_LIVEKIT_VANI="$WORK/vani-for-livekit"
"$VANI_LIVEKIT_PYTHON" -c 'import livekit.agents as a; print("livekit-agents", a.__version__)'
