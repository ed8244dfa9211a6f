"""vani.contrib.pipecat against Pipecat's own analyzers, in Pipecat's venv, on real speech.

The adapters run only inside a Pipecat process, so each check is tests/contrib/pipecat_checks.py
run by ``VANI_PIPECAT_PYTHON``; tools/ci/setup-10-pipecat.sh installs the built wheel for it
(``VANI_PIPECAT_VANI``); from a source tree the checkout goes on its PYTHONPATH instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import vani

HERE = Path(__file__).parent
SPEECH = HERE.parent / "fixtures" / "speech"
WAVS = [str(SPEECH / n) for n in ("speech_16k.wav", "speech_8k.wav", "piper_16k.wav")]
PIPECAT = os.environ.get("VANI_PIPECAT_PYTHON")

pytestmark = pytest.mark.skipif(
    not PIPECAT, reason="VANI_PIPECAT_PYTHON is not set: it names the Python of Pipecat 1.14's venv"
)


def run_check(check: str, *paths: str) -> Any:
    env = dict(os.environ)
    source = Path(vani.__file__).parent.parent
    # CI installs the wheel under test into its own folder for Pipecat's Python
    # (VANI_PIPECAT_VANI); from a checkout, Pipecat's Python imports the checkout.
    where = os.environ.get("VANI_PIPECAT_VANI") or (
        str(source) if "site-packages" not in source.parts else None
    )
    if where:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [where, env.get("PYTHONPATH")]))
    assert PIPECAT is not None
    done = subprocess.run(
        [PIPECAT, str(HERE / "pipecat_checks.py"), check, *paths],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    if done.returncode:
        sys.stderr.write(done.stderr)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_package_imports_no_pipecat_module() -> None:
    result = run_check("imports")
    assert result["package"] == []
    # A class imports only the base it subclasses (and its parents), not Pipecat's own soxr one.
    assert "pipecat.audio.resamplers.soxr_stream_resampler" not in result["resampler"]


def test_vad_finds_the_same_utterances_as_pipecats_silero_in_a_pipeline() -> None:
    result = run_check("vad", *WAVS)
    for path in WAVS:
        theirs, ours = result[path]["pipecat"], result[path]["vani"]
        assert len(ours) == len(theirs) >= 2, (path, theirs, ours)
        for a, b in zip(theirs, ours, strict=True):
            assert len(a) == len(b) == 2, (path, theirs, ours)
            # One 32 ms Silero window (the edges are seen at 20 ms frame ends).
            assert abs(a[0] - b[0]) <= 0.041 and abs(a[1] - b[1]) <= 0.041, (path, a, b)


def test_concurrent_pipecat_tasks_share_batched_inferences() -> None:
    result = run_check("shared", WAVS[0])
    edges = result["edges"]
    assert len(edges) == result["tasks"] and all(e == edges[0] for e in edges)
    assert len(edges[0]) == 2
    # Every task's windows went through the model, in far fewer calls than windows.
    assert result["windows"] >= result["tasks"] * 170
    assert result["runs"] * 8 <= result["windows"], result


def _spectrogram(x: npt.NDArray[np.float64], n: int = 512) -> npt.NDArray[np.float64]:
    w = np.hanning(n)
    return np.array([np.abs(np.fft.rfft(x[i : i + n] * w)) for i in range(0, len(x) - n, n // 4)])


def test_resampler_matches_pipecats_soxr() -> None:
    paths = [WAVS[0], WAVS[2]]  # two voices at 16 kHz, each also converted to 8, 24 and 48 kHz
    result = run_check("resample", *paths)
    for path in paths:
        assert set(result[path]) >= {"16000->8000", "8000->16000", "48000->16000"}
        for pair, out in result[path].items():
            rin, rout = map(int, pair.split("->"))
            theirs = np.frombuffer(bytes.fromhex(out["pipecat"]), np.int16).astype(np.float64)
            ours = np.frombuffer(bytes.fromhex(out["vani"]), np.int16).astype(np.float64)
            assert abs(len(ours) - len(theirs)) <= 2, pair  # rounding of the stream's length
            n = min(len(ours), len(theirs))
            theirs, ours = theirs[:n], ours[:n]
            # The waveforms, sample for sample with no realignment: the energy of the difference
            # against the energy of Pipecat's output. (soxr dithers its int16 output, so even
            # two runs of soxr differ, by about -75 dB on these voices.)
            wave_db = 10 * np.log10(((ours - theirs) ** 2).sum() / (theirs**2).sum())
            assert wave_db < -60, (path, pair, wave_db)
            # And the spectral magnitudes across the passband, frame by frame.
            a, b = _spectrogram(theirs), _spectrogram(ours)
            band = np.fft.rfftfreq(512) * rout < 0.85 * min(rin, rout) / 2
            err = ((a[:, band] - b[:, band]) ** 2).sum() / (a[:, band] ** 2).sum()
            assert 10 * np.log10(err) < -60, (path, pair, 10 * np.log10(err))


def test_turn_analyzer_ends_the_same_turns_as_pipecats() -> None:
    result = run_check("turn", *WAVS)
    for path in WAVS:
        theirs, ours = result[path]["pipecat"], result[path]["vani"]
        assert theirs, path
        assert ours == theirs, (path, theirs, ours)


def test_turn_analyzer_takes_pipecats_model_path_and_cpu_count() -> None:
    result = run_check("turn_model_path", WAVS[0])
    assert result["loaded"] == [result["model"], 2]
    assert result["vani"] == result["pipecat"] and result["vani"]
    # One model per process: an analyzer asking for other threads is refused, not ignored.
    assert "already loaded" in result.get("refused", "")
