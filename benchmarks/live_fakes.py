"""The fake services of ``live_calls.py``, in a process of their own: Sarvam STT, Sarvam TTS and
OpenAI Chat Completions from ``vani.testing``, on 127.0.0.1, at zero latency.

    python benchmarks/live_fakes.py [--reply TEXT] [--ms-per-char 40]

Prints one JSON line ``{"openai": URL, "stt": URL, "tts": URL}`` once all three listen, then
serves until SIGTERM or SIGINT. Both frameworks under test get exactly these servers.

The fakes are the test fakes with their per-connection recording trimmed: a load test sends
50 audio messages a second per call, and keeping them all would grow this process by
hundreds of MiB and slow it down, which would be charged to the server under test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import signal

from vani.frames import JSONValue
from vani.testing.fake_openai import FakeOpenAIServer, RecordedRequest, Response, text_response
from vani.testing.fake_sarvam_stt import FakeSarvamSTTServer
from vani.testing.fake_sarvam_tts import FakeSarvamTTSServer

# What the fake STT hears every time, and what the fake LLM answers (one sentence: 1.8 s of
# audio at the default 40 ms per character).
TRANSCRIPT = "Please book a table for two."
REPLY = "Sure, a table for two is booked for you."
TRANSCRIPTS = 200_000  # the STT fake consumes its script across connections


class _LeanSTT(FakeSarvamSTTServer):
    """The STT fake, keeping neither the received messages nor the received audio."""

    def _decode_audio(self, state: object, audio: dict[str, JSONValue]) -> bytes:
        pcm = super()._decode_audio(state, audio)  # type: ignore[arg-type]
        state.audio.clear()  # type: ignore[attr-defined]
        state.record.messages.clear()  # type: ignore[attr-defined]
        return pcm


class _LeanOpenAI(FakeOpenAIServer):
    """The OpenAI fake, keeping only the last requests."""

    def _choose(self, request: RecordedRequest) -> Response:
        del self.requests[:-16]
        return super()._choose(request)


async def serve(reply: str, ms_per_char: float) -> None:
    tokens = re.findall(r"\s*\S+", reply)

    def respond(_request: RecordedRequest) -> Response:
        return text_response(*tokens)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tts = FakeSarvamTTSServer()
    tts.ms_per_char = ms_per_char
    tts.idle_timeout_s = None
    stt = _LeanSTT(transcripts=[TRANSCRIPT] * TRANSCRIPTS)
    async with _LeanOpenAI(responder=respond, split_delay=0.0) as llm, stt, tts:
        urls = {"openai": llm.base_url, "stt": stt.base_url, "tts": tts.base_url}
        print(json.dumps(urls), flush=True)
        await stop.wait()
        # The servers close their listening sockets; live connections are dropped with them.
        for fake in (stt, tts):
            with contextlib.suppress(Exception):
                fake.abort_all()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reply", default=REPLY, help="what the LLM fake answers every turn")
    ap.add_argument("--ms-per-char", type=float, default=40.0, help="TTS audio per character")
    args = ap.parse_args()
    asyncio.run(serve(args.reply, args.ms_per_char))


if __name__ == "__main__":
    main()
