"""Telephony serializers (Twilio's media stream): cost per message, vani beside Pipecat 1.14.

In: one Twilio ``media`` message (20 ms of 8 kHz μ-law, base64 in JSON) → PCM at the pipeline's
16 kHz. Out: one 40 ms chunk of 8 kHz PCM (what ``TelephonyTransport`` hands its serializer) →
a ``media`` message; and 40 ms at 24 kHz (the TTS's rate, resampled by the serializer, which is
what Pipecat's transport hands its serializer). Each round times 100 consecutive calls, so the
median is per message. ``pytest benchmarks/bench_telephony_serializers.py --benchmark-only``;
``--benchmark-disable`` runs each once. Pipecat's ``TwilioFrameSerializer`` on the same messages
is measured in its venv by ``test_pipecat_for_comparison`` (rounds of 100 calls, the median
round, like pytest-benchmark's median; printed, not asserted).
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

from vani.frames import OutputAudioRawFrame, StartFrame
from vani.serializers import TwilioFrameSerializer
from vani.testing.telephony_wire import SimCall, wire_for

_rng = random.Random(12)
PCM8_20MS = bytes(_rng.getrandbits(8) for _ in range(320))
PCM8_40MS = bytes(_rng.getrandbits(8) for _ in range(640))
PCM24_40MS = bytes(_rng.getrandbits(8) for _ in range(1920))
MEDIA = wire_for("twilio").media(SimCall(), PCM8_20MS, 3, 1, 20)


def timed(benchmark: BenchmarkFixture, fn: Callable[[], object]) -> object:
    return benchmark.pedantic(fn, iterations=100, rounds=50, warmup_rounds=1)


async def started() -> TwilioFrameSerializer:
    s = TwilioFrameSerializer()
    s.deserialize(wire_for("twilio").start(SimCall(), 1))
    await s.setup(StartFrame(audio_in_sample_rate=16000))
    return s


@pytest.mark.benchmark(group="telephony-in")
async def test_twilio_media_in(benchmark: BenchmarkFixture) -> None:
    s = await started()
    frames = timed(benchmark, lambda: s.deserialize(MEDIA))
    assert isinstance(frames, list) and len(frames) == 1


@pytest.mark.benchmark(group="telephony-out")
@pytest.mark.parametrize("rate", [8000, 24000])
async def test_twilio_media_out(benchmark: BenchmarkFixture, rate: int) -> None:
    s = await started()
    frame = OutputAudioRawFrame(audio=PCM8_40MS if rate == 8000 else PCM24_40MS, sample_rate=rate)
    timed(benchmark, lambda: s.serialize(frame))


PIPECAT = os.environ.get("VANI_PIPECAT_PYTHON")


@pytest.mark.skipif(not PIPECAT, reason="VANI_PIPECAT_PYTHON is not set (Pipecat's venv)")
def test_pipecat_for_comparison() -> None:
    assert PIPECAT is not None
    script = textwrap.dedent(
        f"""
        import asyncio, json, statistics, time
        from pipecat.serializers.twilio import TwilioFrameSerializer
        from pipecat.frames.frames import OutputAudioRawFrame, StartFrame
        media = {MEDIA!r}
        pcm8, pcm24 = {PCM8_40MS!r}, {PCM24_40MS!r}
        async def main():
            s = TwilioFrameSerializer(stream_sid="MZ1", params=TwilioFrameSerializer.InputParams(
                auto_hang_up=False))
            await s.setup(StartFrame(audio_in_sample_rate=16000, audio_out_sample_rate=24000))
            out8 = OutputAudioRawFrame(audio=pcm8, sample_rate=8000, num_channels=1)
            out24 = OutputAudioRawFrame(audio=pcm24, sample_rate=24000, num_channels=1)
            res = {{}}
            for name, fn in (("media_in", lambda: s.deserialize(media)),
                             ("media_out_8k", lambda: s.serialize(out8)),
                             ("media_out_24k", lambda: s.serialize(out24))):
                rounds = []
                for _ in range(50):  # as pytest-benchmark: rounds of 100, the median round
                    t0 = time.perf_counter()
                    for _ in range(100):
                        await fn()
                    rounds.append((time.perf_counter() - t0) / 100 * 1e6)
                res[name] = round(statistics.median(rounds), 2)
            print(json.dumps(res))
        asyncio.run(main())
        """
    )
    env = dict(os.environ, LOGURU_LEVEL="WARNING")
    proc = subprocess.run(
        [PIPECAT, "-c", script], capture_output=True, text=True, timeout=300, check=True, env=env
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print("pipecat us/message:", result)
    assert set(result) == {"media_in", "media_out_8k", "media_out_24k"}
