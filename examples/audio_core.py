"""vani's audio core in your own app: no pipeline, no transport, just PCM in and answers out.

    python examples/audio_core.py [speech.wav]

Reads 16-bit mono PCM (a WAV here; a socket, a sound card or a SIP stack works the same),
finds the utterances with a VAD stream, resamples to 8 kHz and encodes G.711 μ-law for a phone
leg, then decodes it back. Many such streams in one process share one batched Silero inference.
See docs/embedding.md.
"""

from __future__ import annotations

import asyncio
import sys
import wave
from collections.abc import Iterator

from vani.audio.pcm import ulaw_decode, ulaw_encode
from vani.audio.resample import StreamResampler
from vani.audio.vad import VADAnalyzer, VADParams


def chunks(path: str, ms: int = 20) -> Iterator[tuple[bytes, int]]:
    """Any source of 16-bit mono PCM: here a WAV, 20 ms at a time."""
    with wave.open(path, "rb") as w:
        rate = w.getframerate()
        while data := w.readframes(rate * ms // 1000):
            yield data, rate


async def main(path: str) -> list[tuple[float, float]]:
    vad = VADAnalyzer(sample_rate=16000, params=VADParams(stop_secs=0.5))
    to_phone = StreamResampler(16000, 8000)
    utterances: list[tuple[float, float]] = []
    phone_leg = bytearray()
    for pcm, rate in chunks(path):
        assert rate == 16000, "this example expects 16 kHz input"
        for event in await vad.analyze(pcm):  # batched with every other stream on the loop
            if event.started:
                utterances.append((event.timestamp, event.timestamp))
            elif event.stopped:
                utterances[-1] = (utterances[-1][0], event.timestamp)
        phone_leg += ulaw_encode(to_phone.resample(pcm))  # 8 kHz G.711 μ-law, 1 byte a sample
    for event in await vad.flush():
        if event.stopped:
            utterances[-1] = (utterances[-1][0], event.timestamp)
    phone_leg += ulaw_encode(to_phone.flush())
    back = ulaw_decode(bytes(phone_leg))  # the other way: μ-law to 16-bit PCM at 8 kHz
    print(f"{len(phone_leg)} bytes of μ-law ({len(back) // 2 / 8000:.2f} s at 8 kHz)")
    for start, end in utterances:
        print(f"speech {start:.2f}s - {end:.2f}s")
    return utterances


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/speech/speech_16k.wav"))
