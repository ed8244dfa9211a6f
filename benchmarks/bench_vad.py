"""VAD benchmarks: the cost vani adds around Silero, batched inference, memory per stream.

    PYTHONPATH=. pytest benchmarks/bench_vad.py --benchmark-only --benchmark-group-by=group
    PYTHONPATH=. pytest benchmarks/bench_vad.py --benchmark-disable   # quick: each runs once

Every figure is per 512-sample window (32 ms of 16 kHz audio). Pipecat's analyzer figures for
the same machine come from ``python benchmarks/vad_sessions.py --pipecat-micro``; the real-time
session count from ``python benchmarks/vad_sessions.py --search``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import wave
from pathlib import Path

import numpy as np
import pytest

from vani._core.vad import VADStateMachine, VADWindower
from vani.audio.silero import SileroBatcher, SileroStream, run_silero, silero_session
from vani.audio.vad import VADAnalyzer, VADParams

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "tests" / "fixtures" / "speech" / "speech_16k.wav"
WINDOW_BYTES = 1024


def _speech_windows() -> list[bytes]:
    with wave.open(str(SPEECH), "rb") as w:
        pcm = w.readframes(w.getnframes())
    return [pcm[i : i + WINDOW_BYTES] for i in range(0, len(pcm) - WINDOW_BYTES + 1, WINDOW_BYTES)]


WINDOWS = _speech_windows()


class _Cycle:
    """Endless speech windows, so every round sees real audio (and real state changes)."""

    def __init__(self) -> None:
        self.i = 0

    def next(self) -> bytes:
        self.i = (self.i + 1) % len(WINDOWS)
        return WINDOWS[self.i]


@pytest.mark.benchmark(group="vad: bare onnxruntime run, 1 window")
def test_bare_session_run_per_window(benchmark) -> None:  # type: ignore[no-untyped-def]
    session = silero_session()
    rng = np.random.default_rng(0)
    inputs = (rng.standard_normal((1, 576)) * 0.1).astype(np.float32)
    state = np.zeros((2, 1, 128), np.float32)
    sr = np.array(16000, dtype=np.int64)
    feed = {"input": inputs, "state": state, "sr": sr}
    out = benchmark(session.run, None, feed)
    assert out[0].shape == (1, 1)


@pytest.mark.benchmark(group="vad: batched inference, 64 streams (time / 64 = per window)")
def test_bare_session_run_64_rows(benchmark) -> None:  # type: ignore[no-untyped-def]
    session = silero_session()
    rows = np.stack([np.frombuffer(w, "<i2").astype(np.float32) / 32768 for w in WINDOWS[:64]])
    inputs = np.concatenate([np.zeros((64, 64), np.float32), rows], axis=1)
    feed = {"input": inputs, "state": np.zeros((2, 64, 128), np.float32), "sr": np.array(16000)}
    out = benchmark(session.run, None, feed)
    assert out[0].shape == (64, 1)


@pytest.mark.benchmark(group="vad: windowing + state machine, no model")
def test_windowing_and_state_machine_per_window(benchmark) -> None:  # type: ignore[no-untyped-def]
    windower = VADWindower(16000)
    machine = VADStateMachine(16000, 0.7, 0.2, 0.8, 0.6)
    batch = np.zeros((1, windower.row_size), np.float32)
    audio = _Cycle()
    probs = np.random.default_rng(1).random(4096).astype(np.float32).tolist()

    def one_window() -> int:
        windower.feed(audio.next())
        volume = windower.take(batch, 0)
        return len(machine.push(probs[audio.i], volume))

    benchmark(one_window)
    assert windower.windows_taken > 0


@pytest.mark.benchmark(group="vad: analyzer, 1 window incl. inference")
def test_analyzer_per_window_including_inference(benchmark) -> None:  # type: ignore[no-untyped-def]
    vad = VADAnalyzer(sample_rate=16000)
    audio = _Cycle()
    benchmark(lambda: vad.analyze_sync(audio.next()))
    assert vad._stream.windower.windows_taken > 0


@pytest.mark.benchmark(group="vad: batched inference, 64 streams (time / 64 = per window)")
def test_batched_inference_64_streams(benchmark) -> None:  # type: ignore[no-untyped-def]
    params = VADParams()
    streams = [SileroStream(16000, params) for _ in range(64)]
    batcher = SileroBatcher(16000)  # the default: inline batches of at most 32
    audio = [_Cycle() for _ in streams]
    for k, a in enumerate(audio):
        a.i = k * 3

    def one_round() -> None:
        for s, a in zip(streams, audio, strict=True):
            s.feed(a.next())
        batcher.analyze_sync(streams)
        for s in streams:
            s.take_events()

    benchmark(one_round)
    assert batcher.windows == 32 * batcher.batches


def test_batched_rows_equal_unbatched_rows_for_the_benchmark_audio() -> None:
    # Guards the benchmark above: a batch of 64 computes what 64 single runs compute.
    rows = np.stack([np.frombuffer(w, "<i2").astype(np.float32) / 32768 for w in WINDOWS[:64]])
    inputs = np.concatenate([np.zeros((64, 64), np.float32), rows], axis=1)
    state = np.zeros((2, 64, 128), np.float32)
    probs, _ = run_silero(inputs, state, 16000)
    for i in range(64):
        p1, _ = run_silero(inputs[i : i + 1], state[:, i : i + 1], 16000)
        assert abs(float(p1[0]) - float(probs[i])) < 1e-5


_RSS_SCRIPT = textwrap.dedent(
    """
    import asyncio, gc, json, wave, psutil, sys
    from vani.audio.vad import VADAnalyzer
    n = int(sys.argv[1])
    with wave.open(sys.argv[2], "rb") as w:
        pcm = w.readframes(w.getnframes())
    proc = psutil.Process()

    async def main():
        warm = VADAnalyzer()  # load the model and the batcher before measuring
        await warm.analyze(pcm[:32000])
        gc.collect()
        before = proc.memory_info().rss
        vads = [VADAnalyzer() for _ in range(n)]

        async def feed(vad):
            for i in range(0, 32000 * 2, 640):
                await vad.analyze(pcm[i : i + 640])

        await asyncio.gather(*(feed(v) for v in vads))
        gc.collect()
        after = proc.memory_info().rss
        print(json.dumps({"streams": n, "rss_per_stream_kib": (after - before) / n / 1024,
                          "rss_total_mib": after / 2**20}))

    asyncio.run(main())
    """
)


@pytest.mark.benchmark(group="vad: RSS per stream, 200 streams in one process")
def test_rss_per_stream_with_200_streams(benchmark) -> None:  # type: ignore[no-untyped-def]
    result: dict[str, float] = {}

    def measure() -> None:
        out = subprocess.run(
            [sys.executable, "-c", _RSS_SCRIPT, "200", str(SPEECH)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        result.update(json.loads(out.stdout.strip().splitlines()[-1]))

    benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    print(f"\nRSS per VAD stream (200 streams, 2 s of speech each): {result}")
    # Loose bound: a model (or an arena) per stream would cost megabytes each.
    assert result["rss_per_stream_kib"] < 1024
