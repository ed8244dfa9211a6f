"""Sarvam client scenarios shared by ``bench_sarvam.py`` (vani, in-process) and
``sarvam_pipecat.py`` (Pipecat 1.14, run under its own interpreter).

The fakes run in a separate process (``python -m vani.testing.fake_sarvam_stt|tts``), so the
client's CPU time (``time.process_time``) counts only the client: the figures are client CPU
per 20 ms of audio sent and per audio chunk received, plus wall-clock time from
``LLMFullResponseEndFrame`` to the first ``TTSAudioRawFrame``. This module imports neither
framework.
"""

from __future__ import annotations

import contextlib
import random
import subprocess
import sys
from collections.abc import Iterator

STT_FRAMES = 500  # 10 s of 16 kHz audio in 20 ms frames
TTS_CHUNK_MS = 20.0  # one 20 ms chunk (960 bytes at 24 kHz) per audio message
TTS_TEXT = (
    "Your table for two is booked for eight thirty tonight, and we will send a reminder "
    "an hour before; reply to the message if anything changes or you need more seats"
)
TTS_MS_PER_CHAR = 55.0
TTS_CHUNKS = -(-int(TTS_MS_PER_CHAR * len(TTS_TEXT)) // int(TTS_CHUNK_MS))
FIRST_AUDIO_TEXT = "Hello there, how can I help you with your booking today"
FIRST_AUDIO_ROUNDS = 20


def seeded_pcm_frames(count: int = STT_FRAMES, seed: int = 20) -> list[bytes]:
    """``count`` 20 ms frames of quiet seeded noise, 16-bit mono at 16 kHz."""
    rng = random.Random(seed)
    frames = []
    for _ in range(count):
        samples = [rng.randint(-300, 300) for _ in range(320)]
        frames.append(b"".join(s.to_bytes(2, "little", signed=True) for s in samples))
    return frames


@contextlib.contextmanager
def fake_server(kind: str, python: str | None = None) -> Iterator[str]:
    """Start ``vani.testing.fake_sarvam_<kind>`` in its own process; yield its base URL."""
    args = [python or sys.executable, "-m", f"vani.testing.fake_sarvam_{kind}", "--port", "0"]
    if kind == "tts":
        args += ["--chunk-ms", str(TTS_CHUNK_MS), "--ms-per-char", str(TTS_MS_PER_CHAR)]
    # The fake imports the same vani as this process (the installed one in CI, the checkout
    # with PYTHONPATH=. in development): the environment is inherited unchanged.
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "READY":
            raise RuntimeError(f"fake sarvam {kind} did not start: {line}")
        yield f"ws://127.0.0.1:{line[1]}"
    finally:
        proc.terminate()
        proc.wait(5)
