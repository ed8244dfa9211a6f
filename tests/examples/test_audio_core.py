"""examples/audio_core.py, unchanged: VAD, resampler and G.711 on a real-speech fixture."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "audio_core.py"
SPEECH = ROOT / "tests" / "fixtures" / "speech"


async def test_the_example_finds_the_utterances(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("audio_core", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found = await module.main(str(SPEECH / "speech_16k.wav"))
    truth = json.loads((SPEECH / "speech_16k.json").read_text())["segments"]
    assert len(found) == len(truth)
    for (start, end), seg in zip(found, truth, strict=True):
        assert abs(start - seg["start_secs"]) < 0.15 and abs(end - seg["end_secs"]) < 0.15
    out = capsys.readouterr().out
    assert "44864 bytes of μ-law (5.61 s at 8 kHz)" in out  # ceil(n / 2) samples, 1 byte each
