"""End-of-turn model costs: features, the bare ONNX run, one question alone and in batches.

    PYTHONPATH=. pytest benchmarks/bench_turn.py --benchmark-only --benchmark-group-by=group
    PYTHONPATH=. pytest benchmarks/bench_turn.py --benchmark-disable   # quick: each runs once
    PYTHONPATH=. python benchmarks/bench_turn.py                       # the table, per session

"Per session" is one question (features of that session's audio + its share of the inference):
the round's time divided by the batch size. The bare ONNX run of one prepared input is the floor.
"""

from __future__ import annotations

import statistics
import sys
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from vani.audio.turn import TurnBatcher, run_smart_turn, smart_turn_session
from vani.audio.turn_features import log_mel_features

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "tests" / "fixtures" / "speech" / "piper_16k.wav"
BATCHES = (8, 32, 64)


def _audio(secs: float, offset: int = 0) -> npt.NDArray[np.float32]:
    with wave.open(str(SPEECH), "rb") as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    start = (offset * 3217) % (len(pcm) - int(secs * 16000))
    return pcm[start : start + int(secs * 16000)].astype(np.float32) / 32768.0


def _sessions(n: int) -> list[npt.NDArray[np.float32]]:
    return [_audio(3.0, i) for i in range(n)]


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    smart_turn_session()
    run_smart_turn(log_mel_features(_audio(1.0))[None])


@pytest.mark.benchmark(group="turn-features")
@pytest.mark.parametrize("secs", [3.0, 8.0])
def test_features(benchmark: pytest.FixtureRequest, secs: float) -> None:
    audio = _audio(secs)
    out = np.empty((80, 800), dtype=np.float32)
    benchmark(log_mel_features, audio, out)  # type: ignore[operator]
    assert np.isfinite(out).all()


@pytest.mark.benchmark(group="turn-bare-onnx")
def test_bare_onnx_one(benchmark: pytest.FixtureRequest) -> None:
    features = log_mel_features(_audio(3.0))[None]
    probs = benchmark(run_smart_turn, features)  # type: ignore[operator]
    assert probs.shape == (1,)


@pytest.mark.benchmark(group="turn-per-question")
@pytest.mark.parametrize("n", [1, *BATCHES])
def test_question_batch(benchmark: pytest.FixtureRequest, n: int) -> None:
    """One batch of ``n`` sessions' questions, features included (``n=1``: unbatched)."""
    batcher = TurnBatcher(max_batch=n, offload=False)
    audios = _sessions(n)
    rounds = 3 if n < 32 else 1
    probs = benchmark.pedantic(batcher.run_batch, args=(audios,), rounds=rounds)  # type: ignore[attr-defined]
    assert probs.shape == (n,)
    benchmark.extra_info["sessions"] = n  # type: ignore[attr-defined]


@pytest.mark.benchmark(group="turn-eval")
def test_turn_eval_quick(benchmark: pytest.FixtureRequest) -> None:
    """The real-speech evaluation on two cases of each kind, VAD alone and vani's defaults."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import asyncio

    import turn_eval

    rng = np.random.default_rng(1)
    cases = turn_eval._speech_cases(rng) + turn_eval._noise_cases(rng)
    kept: list[turn_eval.Case] = []
    for kind in ("complete", "split", "paused", "noise", "short"):
        kept += [c for c in cases if c.kind == kind][:2]
    names = [m for m in turn_eval.modes() if "today" in m or "vani's defaults" in m]

    def run() -> list[dict[str, object]]:
        return turn_eval.summarize(asyncio.run(turn_eval.evaluate(kept, names)))

    rows = benchmark.pedantic(run, rounds=1)  # type: ignore[attr-defined]
    assert [r["mode"] for r in rows] == names
    assert all(r["complete_turns"] == 2 for r in rows)
    print(turn_eval.markdown(rows))


def _median_ms(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def table() -> str:
    smart_turn_session()
    a3 = _audio(3.0)
    rows = [
        ("features, 3 s of audio", _median_ms(lambda: log_mel_features(a3), 20), 1),
        ("features, 8 s of audio", _median_ms(lambda: log_mel_features(_audio(8.0)), 10), 1),
    ]
    feats = log_mel_features(a3)[None]
    bare = _median_ms(lambda: run_smart_turn(feats), 15)
    rows.append(("bare ONNX run, batch of 1 (floor)", bare, 1))
    for n in (1, *BATCHES):
        batcher = TurnBatcher(max_batch=n, offload=False)
        audios = _sessions(n)
        total = _median_ms(lambda b=batcher, a=audios: b.run_batch(a), 7 if n < 32 else 3)
        rows.append((f"question with features, batch of {n}", total / n, n))
    lines = ["| operation | ms per session |", "|---|---|"]
    lines += [f"| {name} | {ms:.1f} |" for name, ms, _ in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
    sys.exit(0)
