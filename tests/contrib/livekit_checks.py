"""livekit-plugins-silero beside vani.contrib.livekit on the same audio; run by LiveKit's Python.

    $VANI_LIVEKIT_PYTHON tests/contrib/livekit_checks.py utterances WAV...

Prints one JSON object; tests/contrib/test_livekit_vad.py judges it. No LiveKit server is needed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import wave
from typing import Any


def read_wav(path: str) -> tuple[bytes, int]:
    with wave.open(path, "rb") as w:
        return w.readframes(w.getnframes()), w.getframerate()


async def run_stream(vad: Any, pcm: bytes, rate: int) -> dict[str, Any]:
    from livekit import rtc
    from livekit.agents.vad import VADEventType

    stream = vad.stream()
    step = rate // 50 * 2
    pcm += bytes(rate * 2)  # a second of silence closes the last utterance
    for i in range(0, len(pcm) - step + 1, step):
        chunk = pcm[i : i + step]
        stream.push_frame(
            rtc.AudioFrame(
                data=chunk, sample_rate=rate, num_channels=1, samples_per_channel=len(chunk) // 2
            )
        )
    stream.end_input()
    spans: list[list[float]] = []
    inferences = 0
    fields_ok = True
    async for ev in stream:
        if ev.type == VADEventType.INFERENCE_DONE:
            inferences += 1
            fields_ok &= ev.samples_index > 0 and len(ev.frames) == 1
        elif ev.type == VADEventType.START_OF_SPEECH:
            fields_ok &= ev.speaking and ev.frames[0].samples_per_channel > 0
            spans.append([round(ev.timestamp, 3)])
        elif ev.type == VADEventType.END_OF_SPEECH:
            fields_ok &= (not ev.speaking) and ev.speech_duration > 0
            fields_ok &= ev.frames[0].samples_per_channel >= ev.speech_duration * rate * 0.9
            spans[-1].append(round(ev.timestamp, 3))
    await stream.aclose()
    return {"spans": spans, "inferences": inferences, "fields_ok": bool(fields_ok)}


async def utterances(paths: list[str]) -> dict[str, Any]:
    from livekit.plugins import silero

    from vani.contrib.livekit import VAD

    out: dict[str, Any] = {}
    for path in paths:
        pcm, rate = read_wav(path)
        out[path] = {
            "livekit": await run_stream(silero.VAD.load(sample_rate=16000), pcm, rate),
            "vani": await run_stream(VAD.load(sample_rate=16000), pcm, rate),
        }
    return out


async def shared(paths: list[str]) -> dict[str, Any]:
    import vani.audio.silero as vani_silero
    from vani.contrib.livekit import VAD

    calls = {"runs": 0, "windows": 0}
    real = vani_silero.run_silero

    def counting(inputs: Any, state: Any, sample_rate: int) -> Any:
        calls["runs"] += 1
        calls["windows"] += len(inputs)
        return real(inputs, state, sample_rate)

    vani_silero.run_silero = counting
    pcm, rate = read_wav(paths[0])
    vad = VAD.load()
    results = await asyncio.gather(*(run_stream(vad, pcm, rate) for _ in range(16)))
    return {"spans": [r["spans"] for r in results], **calls}


def main() -> None:
    check, paths = sys.argv[1], sys.argv[2:]
    print(json.dumps(asyncio.run(globals()[check](paths))))


if __name__ == "__main__":
    main()
