"""WebSocket serializers: cost per message, one group per operation.

Audio: one 20 ms frame of 16 kHz mono (640 bytes) in, one 40 ms chunk of 24 kHz mono (1920 bytes)
out, as a Pipecat browser client sends and receives them. Messages: a typical RTVI event
(``user-input``). Each round times 100 consecutive calls, so the median is per message. Run with
``pytest benchmarks/bench_serializers.py --benchmark-only``; ``--benchmark-disable`` runs each
once as a plain test. Pipecat's own ``ProtobufFrameSerializer`` on the same messages is measured
in its venv by ``test_pipecat_for_comparison`` (printed, not asserted; skipped without
``VANI_PIPECAT_PYTHON``).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import textwrap
from collections.abc import Callable

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from vani.frames import Frame, OutputAudioRawFrame, OutputTransportMessageUrgentFrame
from vani.serializers import ProtobufFrameSerializer, RawPCMSerializer

_rng = random.Random(20)
MIC = bytes(_rng.getrandbits(8) for _ in range(640))
SPEAKER = bytes(_rng.getrandbits(8) for _ in range(1920))
EVENT = {
    "label": "rtvi-ai",
    "type": "user-input",
    "data": {"text": "two large pizzas", "input_type": "transcription", "final": True},
}


def timed(benchmark: BenchmarkFixture, fn: Callable[[], object]) -> object:
    return benchmark.pedantic(fn, iterations=100, rounds=50, warmup_rounds=1)


@pytest.mark.benchmark(group="serializer-audio-in")
def test_protobuf_audio_in(benchmark: BenchmarkFixture) -> None:
    s = ProtobufFrameSerializer()
    wire = s.serialize(OutputAudioRawFrame(audio=MIC, sample_rate=16000))
    assert isinstance(wire, bytes)
    frames = timed(benchmark, lambda: s.deserialize(wire))
    assert isinstance(frames, list)
    assert len(frames) == 1


@pytest.mark.benchmark(group="serializer-audio-in")
def test_raw_pcm_audio_in(benchmark: BenchmarkFixture) -> None:
    s = RawPCMSerializer()
    frames = timed(benchmark, lambda: s.deserialize(MIC))
    assert isinstance(frames, list)
    assert len(frames) == 1


@pytest.mark.benchmark(group="serializer-audio-out")
@pytest.mark.parametrize("kind", ["protobuf", "raw_pcm"])
def test_audio_out(benchmark: BenchmarkFixture, kind: str) -> None:
    s = ProtobufFrameSerializer() if kind == "protobuf" else RawPCMSerializer()
    frame: Frame = OutputAudioRawFrame(audio=SPEAKER, sample_rate=24000)
    assert timed(benchmark, lambda: s.serialize(frame))


@pytest.mark.benchmark(group="serializer-message-out")
@pytest.mark.parametrize("kind", ["protobuf", "raw_pcm"])
def test_message_out(benchmark: BenchmarkFixture, kind: str) -> None:
    s = ProtobufFrameSerializer() if kind == "protobuf" else RawPCMSerializer()
    frame: Frame = OutputTransportMessageUrgentFrame(message=EVENT)  # type: ignore[arg-type]
    assert timed(benchmark, lambda: s.serialize(frame))


PIPECAT = os.environ.get("VANI_PIPECAT_PYTHON")


@pytest.mark.skipif(not PIPECAT, reason="VANI_PIPECAT_PYTHON is not set (Pipecat's venv)")
def test_pipecat_for_comparison() -> None:
    assert PIPECAT is not None
    script = textwrap.dedent(
        f"""
        import asyncio, json, timeit
        from pipecat.serializers.protobuf import ProtobufFrameSerializer
        from pipecat.frames.frames import OutputAudioRawFrame, OutputTransportMessageUrgentFrame
        s = ProtobufFrameSerializer()
        mic, spk, event = {MIC!r}, {SPEAKER!r}, {json.dumps(EVENT)!r}
        async def main():
            wire = await s.serialize(OutputAudioRawFrame(audio=mic, sample_rate=16000,
                                                         num_channels=1))
            out = OutputAudioRawFrame(audio=spk, sample_rate=24000, num_channels=1)
            msg = OutputTransportMessageUrgentFrame(message=json.loads(event))
            res = {{}}
            for name, coro_fn in (("audio_in", lambda: s.deserialize(wire)),
                                  ("audio_out", lambda: s.serialize(out)),
                                  ("message_out", lambda: s.serialize(msg))):
                n = 2000
                t0 = asyncio.get_running_loop().time()
                for _ in range(n):
                    await coro_fn()
                res[name] = (asyncio.get_running_loop().time() - t0) / n * 1e6
            print(json.dumps(res))
        asyncio.run(main())
        """
    )
    env = dict(os.environ, LOGURU_LEVEL="WARNING")
    proc = subprocess.run(
        [PIPECAT, "-c", script], capture_output=True, text=True, timeout=300, check=True, env=env
    )
    print("pipecat us/message:", proc.stdout.strip().splitlines()[-1])
