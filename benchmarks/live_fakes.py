"""The fake services of ``live_calls.py``, in a process of their own: Sarvam STT, Sarvam TTS and
OpenAI Chat Completions from ``vani.testing``, on 127.0.0.1, at zero latency.

    python benchmarks/live_fakes.py [--reply TEXT] [--ms-per-char 40] [--trace PATH] [--full-fakes]

Prints one JSON line ``{"openai": URL, "stt": URL, "tts": URL}`` once all three listen, then
serves until SIGTERM or SIGINT. Both frameworks under test get exactly these servers.
With ``--trace``, the moments each fake received a request and answered it are written to PATH
on exit (JSON lines ``[time, event]``, ``time.monotonic()``: the clock every process on the
machine shares), so ``live_breakdown.py`` can place them on a call's timeline.

The fakes are the test fakes with their per-connection recording trimmed: a load test sends
50 audio messages a second per call, and keeping them all would grow this process by
hundreds of MiB and slow it down, which would be charged to the server under test. The LLM
and TTS fakes also encode their answer once and replay the bytes on every later turn (the
whole LLM stream in one write, the TTS audio messages back to back), so that "zero latency"
holds as nearly as Python allows: encoding them anew cost 0.3-0.5 ms per turn, which the
framework time of both frameworks included. ``--full-fakes`` (or ``VANI_BENCH_FULL_FAKES=1``)
encodes every answer anew, as the test fakes do.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import re
import signal
import time
from typing import Any

import vani.testing.fake_sarvam_tts as fake_tts_module
from vani.frames import JSONValue
from vani.testing.fake_openai import FakeOpenAIServer, RecordedRequest, Response, text_response
from vani.testing.fake_sarvam_stt import FakeSarvamSTTServer
from vani.testing.fake_sarvam_tts import FakeSarvamTTSServer
from vani.testing.openai_script import stream_events

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
    """The OpenAI fake, keeping only the last requests, and (unless ``full``) answering the
    canned reply with bytes encoded once: the whole stream in one write, as a model that had
    the answer ready would send it."""

    def __init__(self, *, full: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.full = full
        self._encoded: dict[tuple[int, bool], bytes] = {}

    def _choose(self, request: RecordedRequest) -> Response:
        _trace("llm-request")
        del self.requests[:-16]
        return super()._choose(request)

    async def _write_stream(self, connection: Any, request: Any, response: Any) -> bool:
        body = request.body if isinstance(request.body, dict) else {}
        if self.full or body.get("stream") is not True:
            done = await super()._write_stream(connection, request, response)
            _trace("llm-response-sent")
            return done
        options = body.get("stream_options")
        usage = isinstance(options, dict) and options.get("include_usage") is True
        # Keyed by the response object: the responder answers every turn with the same one.
        key = (id(response), usage)
        encoded = self._encoded.get(key)
        if encoded is None:
            events = b"".join(e for e in stream_events(response, body) if isinstance(e, bytes))
            encoded = b"%x\r\n%s\r\n0\r\n\r\n" % (len(events), events)
            self._encoded[key] = encoded
        request.status = 200
        try:
            await connection.write(self._stream_head() + encoded)
        except Exception:  # the client went away: the next read ends the connection
            request.disconnected = True
            return False
        request.completed = True
        _trace("llm-response-sent")
        return True


class _TracedTTS(FakeSarvamTTSServer):
    """The TTS fake, noting when text and flushes arrive and audio goes out, and (unless
    ``full``) replaying the messages of a synthesis it has made before (same text, same
    config) with a new request id, instead of encoding the audio again."""

    def __init__(self, *, full: bool) -> None:
        super().__init__()
        self.full = full
        self._replies: dict[tuple[str, str, bool], tuple[str, list[str]]] = {}

    async def _on_message(self, ws: Any, state: Any, message: dict[str, JSONValue]) -> None:
        _trace(f"tts-{message.get('type')}")
        await super()._on_message(ws, state, message)

    async def _synthesize(self, ws: Any, state: Any, text: str) -> None:
        _trace("tts-synthesis-start")
        if self.full or not text.strip():
            await super()._synthesize(_FirstAudio(ws), state, text)
        else:
            key = (
                text.strip(),
                json.dumps(state.config, sort_keys=True),
                state.send_completion_event,
            )
            reply = self._replies.get(key)
            if reply is None:
                recorder = _Recorder()
                await super()._synthesize(recorder, state, text)
                del self.syntheses[:], state.syntheses[:]
                reply = self._replies[key] = (recorder.request_id, recorder.sent)
            old_id, messages = reply
            new_id = f"fake_tts_{next(self._request_ids):06d}"
            first = _FirstAudio(ws)
            for message in messages:
                await first.send(message.replace(old_id, new_id, 1))
        _trace("tts-synthesis-sent")


class _Recorder:
    """A connection that keeps what is sent to it (the first synthesis of a reply)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.request_id = ""

    async def send(self, message: str) -> None:
        if not self.request_id:
            found = re.search(r'"request_id": "(fake_tts_\d+)"', message)
            self.request_id = found.group(1) if found else "\0"
        self.sent.append(message)


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


async def serve(reply: str, ms_per_char: float, full: bool) -> None:
    canned = text_response(*re.findall(r"\s*\S+", reply))

    def respond(_request: RecordedRequest) -> Response:
        return canned

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tts = _TracedTTS(full=full)
    tts.ms_per_char = ms_per_char
    tts.idle_timeout_s = None
    stt = _LeanSTT(transcripts=[TRANSCRIPT] * TRANSCRIPTS)
    async with _LeanOpenAI(full=full, responder=respond, split_delay=0.0) as llm, stt, tts:
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
    ap.add_argument(
        "--full-fakes",
        action="store_true",
        default=os.environ.get("VANI_BENCH_FULL_FAKES", "") not in ("", "0"),
        help="encode every LLM stream and TTS reply anew (the test fakes' way; slower)",
    )
    args = ap.parse_args()
    if args.trace:
        TRACE = []
    asyncio.run(serve(args.reply, args.ms_per_char, args.full_fakes))
    if args.trace:
        _write_trace(args.trace)


if __name__ == "__main__":
    main()
