"""Gate your own bot's performance in its own test suite (docs/embedding.md).

    pytest examples/test_my_bot_performance.py

``vani_call_profile`` comes with vani (a pytest plugin); it runs the processors you give it over
a WAV on the virtual clock and reports CPU per second of audio, allocations per frame and peak
memory. Replace ``my_processors`` with your bot's and the WAV with a recording of a real call.
"""

from __future__ import annotations

from pathlib import Path

from vani.audio.vad import VADParams, VADProcessor
from vani.processors import FrameProcessor
from vani.testing.pytest_plugin import CallProfiler

CALL = Path(__file__).parents[1] / "tests" / "fixtures" / "speech" / "speech_16k.wav"


def my_processors() -> list[FrameProcessor]:
    return [VADProcessor(params=VADParams(stop_secs=0.5))]


async def test_my_bot_stays_cheap(vani_call_profile: CallProfiler) -> None:
    profile = await vani_call_profile.run(my_processors, CALL)
    print(profile)
    assert profile.audio_secs > 5
    assert profile.cpu_ms_per_audio_sec < 200  # at least 5 calls per core, generously
    assert profile.allocations_per_frame < 5  # the steady state keeps (almost) nothing
    assert profile.peak_memory_bytes < 50_000_000
