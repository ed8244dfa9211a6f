"""The fake services of ``live_calls.py``, in a process of their own: Sarvam STT, Sarvam TTS and
OpenAI Chat Completions from ``vani.testing``, on 127.0.0.1, at zero latency.

    python benchmarks/live_fakes.py [--reply TEXT] [--ms-per-char 40] [--trace PATH]

Prints one JSON line ``{"openai": URL, "stt": URL, "tts": URL}`` once all three listen, then
serves until SIGTERM or SIGINT. Both frameworks under test get exactly these servers.
With ``--trace``, the moments each fake received a request and answered it are written to PATH
on exit (JSON lines ``[time, event]``, ``time.monotonic()``: the clock every process on the
machine shares), so ``live_breakdown.py`` can place them on a call's timeline.

The fakes are the test fakes with their per-connection recording trimmed: a load test sends
50 audio messages a second per call, and keeping them all would grow this process by
hundreds of MiB and slow it down, which would be charged to the server under test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import re
import signal
import time
from typing import Any

import vani.testing.fake_sarvam_tts as fake_tts_module
from vani.frames import JSONValue
from vani.testing.fake_openai import FakeOpenAIServer, RecordedRequest, Response, text_response
from vani.testing.fake_sarvam_stt import FakeSarvamSTTServer
from vani.testing.fake_sarvam_tts import FakeSarvamTTSServer

# What the fake STT hears every time, and what the fake LLM answers (one sentence: 1.8 s of
# audio at the default 40 ms per character).
TRANSCRIPT = "Please book a table for two."
REPLY = "Sure, a table for two is booked for you."
TRANSCRIPTS = 200_000  # the STT fake consumes its script across connections


TRACE: list[tuple[float, str]] | None = None

# Every turn synthesizes the same reply: compute its signal once (~5–10 ms of numpy per turn on
# a small machine, which would otherwise sit between the TTS request and its first audio and
# compete for the core with the load generator). Both frameworks get the same fake.
fake_tts_module.synthesize_voice_like = functools.lru_cache(maxsize=64)(
    fake_tts_module.synthesize_voice_like
)


def _trace(event: str) -> None:
    if TRACE is not None:
        TRACE.append((time.monotonic(), event))


class _LeanSTT(FakeSarvamSTTServer):
    """The STT fake, keeping neither the received messages nor the received audio."""

    async def _finalise(self, ws: Any, state: Any, reason: Any) -> None:
        _trace(f"stt-{reason}")
        await super()._finalise(ws, state, reason)
        _trace("stt-transcript-sent")

    def _decode_audio(self, state: object, audio: dict[str, JSONValue]) -> bytes:
        pcm = super()._decode_audio(state, audio)  # type: ignore[arg-type]
        state.audio.clear()  # type: ignore[attr-defined]
        state.record.messages.clear()  # type: ignore[attr-defined]
        return pcm


class _LeanOpenAI(FakeOpenAIServer):
    """The OpenAI fake, keeping only the last requests."""

    def _choose(self, request: RecordedRequest) -> Response:
        _trace("llm-request")
        del self.requests[:-16]
        return super()._choose(request)

    async def _write_stream(self, connection: Any, request: Any, response: Any) -> bool:
        done = await super()._write_stream(connection, request, response)
        _trace("llm-response-sent")
        return done


class _TracedTTS(FakeSarvamTTSServer):
    """The TTS fake, noting when text and flushes arrive and audio goes out."""

    async def _on_message(self, ws: Any, state: Any, message: dict[str, JSONValue]) -> None:
        _trace(f"tts-{message.get('type')}")
        await super()._on_message(ws, state, message)

    async def _synthesize(self, ws: Any, state: Any, text: str) -> None:
        _trace("tts-synthesis-start")
        await super()._synthesize(_FirstAudio(ws), state, text)
        _trace("tts-synthesis-sent")


class _FirstAudio:
    """A connection that notes when the first audio message of a synthesis went out."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._first = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)

    async def send(self, message: Any) -> None:
        await self._ws.send(message)
        if self._first and '"audio"' in message[:40]:
            self._first = False
            _trace("tts-first-audio-sent")


async def serve(reply: str, ms_per_char: float) -> None:
    tokens = re.findall(r"\s*\S+", reply)

    def respond(_request: RecordedRequest) -> Response:
        return text_response(*tokens)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tts = _TracedTTS()
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


def _write_trace(path: str) -> None:
    with open(path, "w") as out:
        for moment, event in TRACE or []:
            out.write(json.dumps([moment, event]) + "\n")


def main() -> None:
    global TRACE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reply", default=REPLY, help="what the LLM fake answers every turn")
    ap.add_argument("--ms-per-char", type=float, default=40.0, help="TTS audio per character")
    ap.add_argument("--trace", help="write when each fake was asked and answered here")
    args = ap.parse_args()
    if args.trace:
        TRACE = []
    asyncio.run(serve(args.reply, args.ms_per_char))
    if args.trace:
        _write_trace(args.trace)


if __name__ == "__main__":
    main()
