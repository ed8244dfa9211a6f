"""The shared Silero session and the cross-stream batcher."""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path

import numpy as np
import pytest

import vani.audio.silero as silero
from vani.audio.silero import SileroBatcher, SileroStream, get_batcher
from vani.audio.vad import VADParams
from vani.errors import ConfigurationError

SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech" / "speech_16k.wav"


def _speech() -> bytes:
    with wave.open(str(SPEECH), "rb") as w:
        return w.readframes(w.getnframes())


def test_every_stream_shares_one_inference_session() -> None:
    assert silero.silero_session() is silero.silero_session()


@pytest.mark.parametrize("offload", [False, True])
async def test_batches_never_exceed_max_batch_and_take_one_window_per_stream(
    offload: bool,
) -> None:
    pcm = _speech()
    batcher = SileroBatcher(16000, max_batch=3, offload=offload)
    params = VADParams()
    streams = [SileroStream(16000, params, keep_probabilities=True) for _ in range(7)]
    for s in streams:
        s.feed(pcm[: 1024 * 5])
    await asyncio.gather(*(batcher.analyze(s) for s in streams))
    assert batcher.windows == 35
    assert batcher.batches >= 35 // 3
    alone = SileroStream(16000, params, keep_probabilities=True)
    alone.feed(pcm[: 1024 * 5])
    alone.analyze_now()
    for s in streams:
        np.testing.assert_allclose(s.probabilities or [], alone.probabilities or [], atol=1e-5)


async def test_a_stream_at_the_wrong_rate_is_refused_by_a_batcher() -> None:
    with pytest.raises(ConfigurationError, match="expected a stream at 16000 Hz, got 8000"):
        await get_batcher(16000).analyze(SileroStream(8000, VADParams()))


async def test_a_failed_inference_reaches_every_waiting_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_args: object) -> object:
        raise RuntimeError("inference failed")

    monkeypatch.setattr(silero, "run_silero", broken)
    batcher = SileroBatcher(16000, offload=False)
    streams = [SileroStream(16000, VADParams()) for _ in range(3)]
    for s in streams:
        s.feed(_speech()[:2048])
    results = await asyncio.gather(*(batcher.analyze(s) for s in streams), return_exceptions=True)
    assert [str(r) for r in results] == ["inference failed"] * 3
    monkeypatch.undo()
    assert await batcher.analyze(streams[0]) == [], "the batcher works again afterwards"


async def test_a_cancelled_waiter_leaves_its_events_for_the_next_call() -> None:
    pcm = _speech()
    batcher = SileroBatcher(16000, offload=True)
    stream = SileroStream(16000, VADParams(), keep_probabilities=True)
    stream.feed(pcm[:32000])  # 1 s: speech starts at 0.5 s and is decided by 0.74 s
    waiter = asyncio.ensure_future(batcher.analyze(stream))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    stream.feed(pcm[32000:32640])
    events = await batcher.analyze(stream)
    assert any(e.started for e in events)
    assert len(stream.probabilities or []) == 32640 // 1024


async def test_discard_forgets_a_stream_and_cancels_its_waiter() -> None:
    batcher = SileroBatcher(16000, offload=True)
    stream = SileroStream(16000, VADParams())
    stream.feed(_speech()[:8192])
    waiter = asyncio.ensure_future(batcher.analyze(stream))
    await asyncio.sleep(0)
    batcher.discard(stream)
    with pytest.raises(asyncio.CancelledError):
        await waiter
    while batcher._runner is not None:  # the batch in flight finishes on its own
        await asyncio.sleep(0.001)


async def test_a_stream_alone_never_waits_to_gather_a_batch() -> None:
    # One stream fed faster than real time (a file): every round has all the streams there are.
    batcher = SileroBatcher(16000, gather_secs=0.032)
    stream = SileroStream(16000, VADParams())
    pcm = _speech()[: 1024 * 40]
    for i in range(0, len(pcm), 640):
        stream.feed(pcm[i : i + 640])
        await batcher.analyze(stream)
    assert batcher.windows == 40
    assert batcher.batches == 40
    assert batcher.gather_waits == 0


async def _live_streams(batcher: SileroBatcher, n: int) -> tuple[list[SileroStream], bytes]:
    """``n`` streams that each had one window analyzed: the batcher now counts them as live.
    Returns them and one window of speech."""
    streams = [SileroStream(16000, VADParams()) for _ in range(n)]
    pcm = _speech()[:1024]
    for s in streams:
        s.feed(pcm)
    await asyncio.gather(*(batcher.analyze(s) for s in streams))
    return streams, pcm


async def test_streams_ready_at_different_moments_share_one_batch() -> None:
    batcher = SileroBatcher(16000, gather_secs=0.032, gather_windows=3)
    streams, pcm = await _live_streams(batcher, 3)
    batches = batcher.batches

    async def later(s: SileroStream, turns: int) -> None:
        for _ in range(turns):  # a few loop turns apart, as frames of different calls arrive
            await asyncio.sleep(0)
        s.feed(pcm)
        await batcher.analyze(s)

    await asyncio.gather(*(later(s, 3 * i) for i, s in enumerate(streams)))
    assert batcher.batches == batches + 1  # one batch of three, not three of one
    assert batcher.windows == 6
    assert batcher.gather_waits >= 1


async def test_a_round_waits_at_most_gather_secs_for_streams_that_never_come() -> None:
    batcher = SileroBatcher(16000, gather_secs=0.005, gather_windows=4)
    streams, pcm = await _live_streams(batcher, 4)
    # Now only one of the four speaks: it is analyzed after the wait, not left hanging.
    streams[0].feed(pcm)
    await asyncio.wait_for(batcher.analyze(streams[0]), 5)
    assert batcher.windows == 5
    assert batcher.gather_waits >= 1


def test_gather_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="gather_secs"):
        SileroBatcher(16000, gather_secs=0.5)
    with pytest.raises(ConfigurationError, match="gather_windows"):
        SileroBatcher(16000, gather_windows=0)


# What the upstream Silero graph said about each fixture, window by window (recorded by
# tests/fixtures/silero/generate.py): the shipped graph, whose 16 kHz convolutions are
# rewritten as batched matrix products, must say the same alone and in a batch.
UPSTREAM = json.loads((SPEECH.parents[1] / "silero" / "upstream_probabilities.json").read_text())


def _fixture(name: str) -> tuple[int, bytes]:
    with wave.open(str(SPEECH.parents[1] / name), "rb") as w:
        return w.getframerate(), w.readframes(w.getnframes())


def _assert_upstream(name: str, got: list[float] | None) -> None:
    want = np.array(UPSTREAM[name]["probabilities"])
    assert got is not None and len(got) == len(want), name
    np.testing.assert_allclose(got, want, atol=1e-4, err_msg=name)
    # No window lands on the other side of the default confidence (0.5), bar one that sat on it.
    near = np.abs(want - 0.5) < 1e-4
    assert np.array_equal((np.array(got) > 0.5)[~near], (want > 0.5)[~near]), name


@pytest.mark.parametrize("name", sorted(UPSTREAM))
def test_the_shipped_graph_gives_upstreams_probabilities_alone(name: str) -> None:
    rate, pcm = _fixture(name)
    assert rate == UPSTREAM[name]["sample_rate"]
    stream = SileroStream(rate, VADParams(), keep_probabilities=True)
    stream.feed(pcm)
    stream.flush_now()
    _assert_upstream(name, stream.probabilities)
    if "speech_" in name:  # the fixture is not all one kind: the check can tell them apart
        assert max(stream.probabilities or [0]) > 0.9 and min(stream.probabilities or [1]) < 0.1


@pytest.mark.parametrize("rate", [16000, 8000])
async def test_the_shipped_graph_gives_upstreams_probabilities_in_a_batch(rate: int) -> None:
    # Each fixture of the rate three times over, in one batcher: batches mix windows of
    # different files at different points (the files differ in length, so batches shrink as
    # they end), and no window's result may depend on its neighbours in the batch.
    names = [n for n in sorted(UPSTREAM) if UPSTREAM[n]["sample_rate"] == rate] * 3
    batcher = SileroBatcher(rate, max_batch=32, gather_secs=0.0)
    streams = [SileroStream(rate, VADParams(), keep_probabilities=True) for _ in names]
    for name, stream in zip(names, streams, strict=True):
        stream.feed(_fixture(name)[1])
    await asyncio.gather(*(batcher.analyze(s) for s in streams))
    for stream in streams:
        stream.windower.flush()
    await asyncio.gather(*(batcher.analyze(s) for s in streams))
    assert batcher.windows == sum(len(UPSTREAM[n]["probabilities"]) for n in names)
    assert batcher.batches < batcher.windows / 2, "windows were batched"
    for name, stream in zip(names, streams, strict=True):
        _assert_upstream(name, stream.probabilities)
