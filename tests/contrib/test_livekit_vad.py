"""vani.contrib.livekit.VAD against livekit-plugins-silero on the same real speech.

Runs tests/contrib/livekit_checks.py with ``VANI_LIVEKIT_PYTHON`` (a venv with livekit-agents 1.8
and livekit-plugins-silero; tools/ci/setup-20-livekit.sh builds it in CI and installs the wheel
under test for it as ``VANI_LIVEKIT_VANI``; from a checkout the checkout is imported).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

import vani

HERE = Path(__file__).parent
SPEECH = HERE.parent / "fixtures" / "speech"
WAVS = [str(SPEECH / n) for n in ("speech_16k.wav", "speech_8k.wav", "piper_16k.wav")]
LIVEKIT = os.environ.get("VANI_LIVEKIT_PYTHON")

pytestmark = pytest.mark.skipif(
    not LIVEKIT,
    reason="VANI_LIVEKIT_PYTHON is not set: it names the Python of a venv with livekit-agents 1.8"
    " and livekit-plugins-silero (tools/ci/setup-20-livekit.sh builds one)",
)


def run_check(check: str, *paths: str) -> Any:
    env = dict(os.environ)
    source = Path(vani.__file__).parent.parent
    where = os.environ.get("VANI_LIVEKIT_VANI") or (
        str(source) if "site-packages" not in source.parts else None
    )
    if where:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [where, env.get("PYTHONPATH")]))
    assert LIVEKIT is not None
    done = subprocess.run(
        [LIVEKIT, str(HERE / "livekit_checks.py"), check, *paths],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_same_utterances_as_livekits_silero_plugin() -> None:
    result = run_check("utterances", *WAVS)
    for path in WAVS:
        theirs, ours = result[path]["livekit"], result[path]["vani"]
        assert ours["fields_ok"] and theirs["fields_ok"], path
        assert ours["inferences"] == theirs["inferences"], path
        assert len(ours["spans"]) == len(theirs["spans"]) >= 2, (path, theirs, ours)
        for a, b in zip(theirs["spans"], ours["spans"], strict=True):
            assert len(a) == len(b) == 2, (path, a, b)
            # Within one 32 ms window (8 kHz input is resampled differently by each plugin).
            assert abs(a[0] - b[0]) <= 0.033 and abs(a[1] - b[1]) <= 0.033, (path, a, b)


def test_streams_share_batched_inferences() -> None:
    result = run_check("shared", WAVS[0])
    spans = result["spans"]
    assert len(spans) == 16 and all(s == spans[0] for s in spans) and len(spans[0]) == 2
    assert result["runs"] * 8 <= result["windows"], result
