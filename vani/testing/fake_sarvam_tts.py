"""A protocol-faithful fake of Sarvam's streaming text-to-speech WebSocket, on 127.0.0.1.

Speaks ``/text-to-speech/ws`` (see ``docs/testing.md``): ``config`` first, then ``text``,
``flush`` and ``ping``; answers each flush with base64 audio chunks in the configured
``output_audio_codec`` (``{"type":"audio","data":{"content_type","audio","request_id"}}``) and,
when the query says ``send_completion_event=true``, a
``{"type":"event","data":{"event_type":"final"}}``. Every codec the service offers is produced
for real: ``linear16`` PCM, ``wav``, G.711 ``mulaw``/``alaw``, and ``mp3`` (the service's
default), ``aac``, ``opus`` and ``flac`` streams encoded by FFmpeg through PyAV.

Speakers are checked per model as Sarvam documents them: the seven ``bulbul:v2`` voices, the 37
``bulbul:v3`` voices, and ``bulbul:v4-flash`` persona voices named ``<name>_<language>_<style>``
(``simran_en_customer``), for which the v2/v3 names are not valid. When the query names no model,
the SDK's and the API's documented defaults disagree (v2 and v3), so both voice lists are accepted.

The audio is a deterministic voice-like signal (a gliding harmonic tone shaped into syllables)
whose length follows the text (``ms_per_char``), at the configured ``speech_sample_rate``.
Every edge case the real service shows is a switch or a method; everything received is recorded::

    async with FakeSarvamTTSServer() as fake:
        tts = SarvamTTSService(api_key="test-key", base_url=fake.base_url)
        ...
        assert fake.connections[0].messages_of_type("config")
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import logging
import random
import re
import zlib
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from vani.frames import JSONValue
from vani.testing._fake_ws import (
    ConnectionRecord,
    FakeWebSocketServer,
    parse_message,
    serve_until_cancelled,
)
from vani.testing._tts_codecs import (
    TTS_BITRATES,
    TTS_OUTPUT_CODECS,
    content_type,
    encode,
    wav_header,
)

__all__ = [
    "TTS_BITRATES",
    "TTS_LANGUAGES",
    "TTS_MODELS",
    "TTS_OUTPUT_CODECS",
    "TTS_SAMPLE_RATES",
    "V2_SPEAKERS",
    "V3_SPEAKERS",
    "FakeSarvamTTSServer",
    "SynthesisRecord",
    "TTSError",
    "synthesize_voice_like",
]

logger = logging.getLogger(__name__)

TTS_MODELS = frozenset({"bulbul:v2", "bulbul:v3", "bulbul:v3-beta", "bulbul:v4-flash"})
TTS_LANGUAGES = frozenset(
    {
        "bn-IN",
        "en-IN",
        "gu-IN",
        "hi-IN",
        "kn-IN",
        "ml-IN",
        "mr-IN",
        "od-IN",
        "pa-IN",
        "ta-IN",
        "te-IN",
    }
)
TTS_SAMPLE_RATES = frozenset({8000, 16000, 22050, 24000})
V2_SPEAKERS = frozenset({"anushka", "manisha", "vidya", "arya", "abhilash", "karun", "hitesh"})
V3_SPEAKERS = frozenset(
    {
        "shubh", "aditya", "ritu", "priya", "neha", "rahul", "pooja", "rohan", "simran", "kavya",
        "amit", "dev", "ishita", "shreya", "ratan", "varun", "manan", "sumit", "roopa", "kabir",
        "aayan", "ashutosh", "advait", "anand", "tanya", "tarun", "sunny", "mani", "gokul",
        "vijay", "shruti", "suhani", "mohit", "kavitha", "rehan", "soham", "rupali",
    }
)  # fmt: skip
# bulbul:v4-flash voices are personas: <name>_<language>_<style>, e.g. shubh_hi_devotional.
_PERSONA = re.compile(r"[a-z]+_(?:en|hi|enhi|bn|gu|kn|ml|mr|od|pa|ta|te)_[a-z]+(?:_[a-z]+)*")
MAX_TEXT_CHARS = 2500


@dataclass(slots=True)
class TTSError:
    """An ``error`` message: ``{"type":"error","data":{"message","code","details","request_id"}}``;
    with ``close_code`` set, the socket is closed after it."""

    message: str = "rate_limit exceeded, please retry"
    code: int | None = 429
    close_code: int | None = None


@dataclass(slots=True)
class SynthesisRecord:
    """One synthesis: the text, its request id, bytes of PCM sent, whether it was finished
    (``final`` sent, or last chunk sent when completion events are off)."""

    text: str
    request_id: str
    sample_rate: int
    audio_bytes: int = 0
    chunks: int = 0
    completed: bool = False
    cut_by_client: bool = False


@dataclass(slots=True)
class _ConnState:
    record: ConnectionRecord
    send_completion_event: bool
    config: dict[str, JSONValue] | None = None
    buffer: str = ""
    jobs: asyncio.Queue[tuple[str, bool] | None] = field(default_factory=asyncio.Queue)
    syntheses: list[SynthesisRecord] = field(default_factory=list)
    last_message_at: float = 0.0


class FakeSarvamTTSServer(FakeWebSocketServer):
    """Fake Sarvam streaming TTS server. See the module docstring.

    Switches (public attributes): ``ms_per_char`` (audio length per character of text, minimum
    ``min_audio_ms``), ``chunk_ms`` (audio per message), ``irregular_chunks`` (seeded random
    sizes, odd byte counts included, so samples split across messages), ``riff_header`` (prefix
    each synthesis with a 44-byte WAV header, as the REST API does), ``first_chunk_delay_s``
    (time to first byte), ``chunk_interval_s`` (pause between chunks; 0 sends at once),
    ``realtime`` (pace chunks at playback speed), ``final_on_empty_flush``,
    ``include_request_id``, ``idle_timeout_s`` (close 1008 when nothing arrives for that long;
    the real service uses 60 s), ``close_after_connect``.
    Methods: :meth:`fail_next_flush` (error messages, retryable or fatal, optionally closing),
    :meth:`disconnect_during_next_synthesis`, :meth:`close_all`, :meth:`abort_all`,
    :meth:`send_raw_all`.
    """

    path = "/text-to-speech/ws"

    def __init__(self, *, api_key: str = "test-key") -> None:
        super().__init__(api_key=api_key)
        self.ms_per_char = 55.0
        self.min_audio_ms = 120.0
        self.chunk_ms = 100.0
        self.irregular_chunks = False
        self.riff_header = False
        self.first_chunk_delay_s = 0.0
        self.chunk_interval_s = 0.0
        self.realtime = False
        self.final_on_empty_flush = True
        self.include_request_id = True
        self.idle_timeout_s: float | None = 60.0
        self.close_after_connect: tuple[int, str] | None = None
        self.config_error_close_code: int | None = None
        """After an invalid config's error message, also close with this code."""
        self.syntheses: list[SynthesisRecord] = []
        """Every synthesis started, across connections, in order."""
        self._flush_errors: list[TTSError] = []
        self._disconnects: list[tuple[Literal["close", "abort"], int, int]] = []
        self._request_ids = itertools.count(1)
        self._rng = random.Random(1234)

    # -- switches ------------------------------------------------------------------------------

    def fail_next_flush(self, error: TTSError | None = None) -> None:
        """Answer the next flush that has text with an ``error`` message instead of audio."""
        self._flush_errors.append(error or TTSError())

    def disconnect_during_next_synthesis(
        self, kind: Literal["close", "abort"] = "close", *, after_chunks: int = 1, code: int = 1011
    ) -> None:
        """Close (``code``) or drop the TCP stream after ``after_chunks`` chunks of the next
        synthesis."""
        self._disconnects.append((kind, after_chunks, code))

    # -- handshake -----------------------------------------------------------------------------

    def _validate_params(self, params: dict[str, str]) -> str | None:
        model = params.get("model")
        if model is not None and model not in TTS_MODELS:
            return f"invalid model {model!r}"
        sce = params.get("send_completion_event", "true")
        if sce not in ("true", "false"):
            return f"invalid send_completion_event {sce!r}, expected 'true' or 'false'"
        return None

    # -- connection ----------------------------------------------------------------------------

    async def serve_connection(self, ws: ServerConnection, record: ConnectionRecord) -> None:
        state = _ConnState(
            record=record,
            send_completion_event=record.params.get("send_completion_event", "true") == "true",
        )
        loop = asyncio.get_running_loop()
        state.last_message_at = loop.time()
        if self.close_after_connect is not None:
            code, reason = self.close_after_connect
            record.close_code = code
            await ws.close(code, reason)
            return
        worker = asyncio.create_task(self._synthesis_worker(ws, state))
        idle = asyncio.create_task(self._idle_watch(ws, state))
        try:
            async for raw in ws:
                state.last_message_at = loop.time()
                message = parse_message(raw, record)
                if message is not None:
                    await self._on_message(ws, state, message)
        finally:
            for task in (worker, idle):
                task.cancel()
            await asyncio.gather(worker, idle, return_exceptions=True)
            for synthesis in state.syntheses:
                if not synthesis.completed:
                    synthesis.cut_by_client = record.close_code is None or record.closed_by_client

    async def _idle_watch(self, ws: ServerConnection, state: _ConnState) -> None:
        loop = asyncio.get_running_loop()
        while True:
            timeout = self.idle_timeout_s
            if timeout is None:
                await asyncio.sleep(0.05)
                continue
            idle_s = loop.time() - state.last_message_at
            if idle_s >= timeout:
                state.record.close_code = 1008
                await ws.close(1008, "connection idle for too long")
                return
            await asyncio.sleep(min(timeout - idle_s, 0.05) + 0.001)

    async def _send_error(
        self, ws: ServerConnection, message: str, code: int | None, request_id: str | None = None
    ) -> None:
        payload = {
            "type": "error",
            "data": {"message": message, "code": code, "details": {}, "request_id": request_id},
        }
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps(payload))

    def _config_problem(self, data: dict[str, JSONValue], model: str | None) -> str | None:
        language = data.get("target_language_code", data.get("language_code"))
        if language not in TTS_LANGUAGES:
            return f"invalid target_language_code {language!r}"
        speaker = data.get("speaker")
        if speaker is not None and not _speaker_ok(speaker, model):
            return f"invalid speaker {speaker!r} for model {model or 'bulbul:v3'}"
        rate = data.get("speech_sample_rate", 22050)
        if isinstance(rate, str) and rate.isdigit():
            rate = int(rate)
        if rate not in TTS_SAMPLE_RATES:
            return f"invalid speech_sample_rate {rate!r}"
        codec = data.get("output_audio_codec", "mp3")
        if codec not in TTS_OUTPUT_CODECS:
            expected = ", ".join(sorted(TTS_OUTPUT_CODECS))
            return f"invalid output_audio_codec {codec!r}, expected one of {expected}"
        bitrate = data.get("output_audio_bitrate", "128k")
        if bitrate not in TTS_BITRATES:
            expected = ", ".join(sorted(TTS_BITRATES))
            return f"invalid output_audio_bitrate {bitrate!r}, expected one of {expected}"
        return None

    async def _on_message(
        self, ws: ServerConnection, state: _ConnState, message: dict[str, JSONValue]
    ) -> None:
        record = state.record
        kind = message.get("type")
        data = message.get("data")
        if kind == "config":
            if not isinstance(data, dict):
                await self._send_error(ws, "config without data", 400)
                return
            problem = self._config_problem(data, record.params.get("model"))
            if problem is not None:
                record.anomalies.append(problem)
                await self._send_error(ws, problem, 400)
                if self.config_error_close_code is not None:
                    record.close_code = self.config_error_close_code
                    await ws.close(self.config_error_close_code, problem[:100])
                return
            if state.buffer:
                # A new config flushes what is buffered under the old one.
                await state.jobs.put((state.buffer, True))
                state.buffer = ""
            state.config = data
        elif kind == "text":
            text = data.get("text") if isinstance(data, dict) else None
            if state.config is None:
                record.anomalies.append("text before config")
                await self._send_error(ws, "config must be sent before text", 400)
            elif not isinstance(text, str) or not text:
                record.anomalies.append("text message without text")
                await self._send_error(ws, "text must be a non-empty string", 400)
            elif len(text) > MAX_TEXT_CHARS:
                record.anomalies.append(f"text of {len(text)} chars")
                await self._send_error(
                    ws, f"text too long: {len(text)} chars, at most {MAX_TEXT_CHARS}", 400
                )
            else:
                state.buffer += text
        elif kind == "flush":
            await state.jobs.put((state.buffer, True))
            state.buffer = ""
        elif kind == "ping":
            pass
        else:
            record.anomalies.append(f"unknown message type {kind!r}")

    async def _synthesis_worker(self, ws: ServerConnection, state: _ConnState) -> None:
        while True:
            job = await state.jobs.get()
            if job is None:
                return
            text, _ = job
            await self._synthesize(ws, state, text)

    async def _synthesize(self, ws: ServerConnection, state: _ConnState, text: str) -> None:
        config = state.config or {}
        text = text.strip()
        if not text:
            if self.final_on_empty_flush and state.send_completion_event:
                await self._send_final(ws)
            return
        if self._flush_errors:
            error = self._flush_errors.pop(0)
            await self._send_error(ws, error.message, error.code)
            if error.close_code is not None:
                state.record.close_code = error.close_code
                await ws.close(error.close_code, error.message[:100])
            return
        rate_value = config.get("speech_sample_rate", 22050)
        rate = int(rate_value) if isinstance(rate_value, int | str) else 22050
        request_id = f"fake_tts_{next(self._request_ids):06d}"
        record = SynthesisRecord(text=text, request_id=request_id, sample_rate=rate)
        self.syntheses.append(record)
        state.syntheses.append(record)
        duration_ms = max(self.min_audio_ms, self.ms_per_char * len(text))
        pcm = synthesize_voice_like(text, rate, duration_ms)
        codec = str(config.get("output_audio_codec", "mp3"))
        if codec == "linear16" and self.riff_header:
            pcm = wav_header(len(pcm), rate) + pcm
        # Chunks keep the PCM's timing (chunk_ms of audio each); a compressed stream is cut into
        # as many pieces, each paired with the PCM it stands for.
        pcm_chunks = self._chunks(pcm, rate)
        if codec == "linear16":
            wire_chunks = pcm_chunks
        else:
            wire_chunks = _split(
                encode(pcm, rate, codec, str(config.get("output_audio_bitrate", "128k"))),
                len(pcm_chunks),
            )
        disconnect = self._disconnects.pop(0) if self._disconnects else None
        if self.first_chunk_delay_s:
            await asyncio.sleep(self.first_chunk_delay_s)
        for index, (chunk, wire) in enumerate(zip(pcm_chunks, wire_chunks, strict=True)):
            if disconnect is not None and index == disconnect[1]:
                kind, _, code = disconnect
                if kind == "abort":
                    state.record.close_code = 1006
                    ws.transport.abort()
                else:
                    state.record.close_code = code
                    await ws.close(code, "internal error during synthesis")
                return
            if not wire:
                continue
            data: dict[str, JSONValue] = {
                "content_type": content_type(codec),
                "audio": base64.b64encode(wire).decode("ascii"),
            }
            if self.include_request_id:
                data["request_id"] = request_id
            await ws.send(json.dumps({"type": "audio", "data": data}))
            record.audio_bytes += len(chunk)
            record.chunks += 1
            if self.realtime:
                await asyncio.sleep(len(chunk) / 2 / rate)
            elif self.chunk_interval_s:
                await asyncio.sleep(self.chunk_interval_s)
            else:
                await asyncio.sleep(0)
        record.completed = True
        if state.send_completion_event:
            await self._send_final(ws)

    def _chunks(self, pcm: bytes, rate: int) -> list[bytes]:
        nominal = max(2, int(rate * self.chunk_ms / 1000) * 2)
        chunks: list[bytes] = []
        pos = 0
        while pos < len(pcm):
            size = self._rng.randint(1, nominal * 2) if self.irregular_chunks else nominal
            chunks.append(pcm[pos : pos + size])
            pos += size
        return chunks

    async def _send_final(self, ws: ServerConnection) -> None:
        await ws.send(
            json.dumps(
                {
                    "type": "event",
                    "data": {
                        "event_type": "final",
                        "message": "synthesis complete",
                        "timestamp": "2026-01-01T00:00:00Z",
                    },
                }
            )
        )


def _speaker_ok(speaker: JSONValue, model: str | None) -> bool:
    if not isinstance(speaker, str):
        return False
    if model == "bulbul:v2":
        return speaker in V2_SPEAKERS
    if model == "bulbul:v4-flash":
        return _PERSONA.fullmatch(speaker) is not None
    if model is None:
        return speaker in V2_SPEAKERS or speaker in V3_SPEAKERS
    return speaker in V3_SPEAKERS


def _split(data: bytes, pieces: int) -> list[bytes]:
    """``data`` in ``pieces`` consecutive, nearly equal parts (the last ones may be empty)."""
    size = -(-len(data) // max(pieces, 1))
    return [data[i * size : (i + 1) * size] for i in range(max(pieces, 1))]


def synthesize_voice_like(text: str, sample_rate: int, duration_ms: float) -> bytes:
    """A deterministic voice-like signal for ``text``: 16-bit mono PCM at ``sample_rate``.

    A harmonic tone (fundamental 110–220 Hz, chosen from the text) with a slow pitch glide,
    shaped into ~4 syllables per second with short gaps, so energy-based VADs hear speech.
    """
    seed = zlib.crc32(text.encode("utf-8"))
    num_samples = int(sample_rate * duration_ms / 1000)
    if num_samples < 2:
        return b""
    t = np.arange(num_samples, dtype=np.float64) / sample_rate
    f0 = 110.0 + (seed % 110)
    pitch = f0 * (1.0 + 0.08 * np.sin(2 * np.pi * 0.7 * t + (seed % 7)))
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    wave = sum(np.sin(k * phase) / k for k in (1, 2, 3, 4, 5))
    syllable = np.clip(np.sin(2 * np.pi * 4.0 * t) * 1.4, 0.0, 1.0)
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.01)
    signal = 0.3 * wave * syllable * fade
    pcm: bytes = (np.clip(signal, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    return pcm


def main(argv: list[str] | None = None) -> None:
    """Run the fake standalone: ``python -m vani.testing.fake_sarvam_tts --port 8765``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="test-key")
    parser.add_argument("--chunk-ms", type=float, default=100.0, help="audio per message")
    parser.add_argument("--ms-per-char", type=float, default=55.0, help="audio per character")
    args = parser.parse_args(argv)
    fake = FakeSarvamTTSServer(api_key=args.api_key)
    fake.chunk_ms = args.chunk_ms
    fake.ms_per_char = args.ms_per_char
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_until_cancelled(fake, args.port))


if __name__ == "__main__":
    main()
