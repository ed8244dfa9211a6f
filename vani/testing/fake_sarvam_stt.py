"""A protocol-faithful fake of Sarvam's streaming speech-to-text WebSocket, on 127.0.0.1.

It speaks the legacy ``/speech-to-text/ws`` protocol (``docs/services.md``): the key in the
``api-subscription-key`` header, parameters in the query, audio as
``{"audio": {"data", "sample_rate", "encoding"}}``, ``{"type": "flush"}``; it answers with one
final ``{"type": "data"}`` transcript per utterance and, with ``vad_signals=true``,
``START_SPEECH``/``END_SPEECH`` events. Utterances are found by energy endpointing (speech
after silence of ``silence_ms``) or by flush; each gets the next transcript of ``transcripts``.

Every edge case the real service shows is a switch (attributes, changeable at any time) or a
method; everything received is recorded in :attr:`connections`::

    async with FakeSarvamSTTServer(transcripts=["hello", "bye"]) as fake:
        stt = SarvamSTTService(api_key="test-key", base_url=fake.base_url)
        ...
        assert fake.connections[0].params["language-code"] == "en-IN"
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import logging
import math
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

__all__ = [
    "STT_DEFAULT_MODEL",
    "STT_LANGUAGES",
    "STT_MODELS",
    "FakeSarvamSTTServer",
    "STTFailure",
    "UtteranceRecord",
]

logger = logging.getLogger(__name__)

STT_MODELS = frozenset({"saaras:v3", "saaras:v4", "saarika:v2.5", "saarika:v2"})
STT_DEFAULT_MODEL = "saaras:v4"
"""The model the service uses when the query names none (the SDK documents saaras:v4)."""
STT_LANGUAGES = frozenset(
    {
        "unknown",
        "en-IN",
        "hi-IN",
        "bn-IN",
        "gu-IN",
        "kn-IN",
        "ml-IN",
        "mr-IN",
        "od-IN",
        "pa-IN",
        "ta-IN",
        "te-IN",
        "as-IN",
        "ur-IN",
        "ne-IN",
        "kok-IN",
        "ks-IN",
        "sd-IN",
        "sa-IN",
        "sat-IN",
        "mni-IN",
        "brx-IN",
        "mai-IN",
        "doi-IN",
    }
)
_CODECS = frozenset({"wav", "pcm_s16le", "pcm_l16", "pcm_raw"})
_MODES = frozenset({"transcribe", "translate", "verbatim", "translit", "codemix"})
_BOOL_PARAMS = ("vad_signals", "high_vad_sensitivity", "flush_signal")
_MESSAGE_RATES = frozenset({8000, 16000, 22050, 24000})

FailureKind = Literal["close", "abort", "error-then-close", "error"]


@dataclass(slots=True)
class STTFailure:
    """How to fail instead of answering an utterance: a close ``code``, a TCP ``abort`` with no
    close frame, or an ``error`` message (``{"type":"error","data":{"error","code"}}``),
    optionally followed by a close."""

    kind: FailureKind = "close"
    code: int = 1011
    reason: str = "internal server error"
    error_code: str | int = "internal_server_error"


@dataclass(slots=True)
class UtteranceRecord:
    """One utterance the fake finalised: why, how much audio (bytes of 16-bit PCM), the reply."""

    reason: Literal["energy", "flush", "end_of_stream"]
    audio_bytes: int
    had_speech: bool
    transcript: str | None
    """The transcript sent; None when nothing was sent (failure, or an empty flush ignored)."""


@dataclass(slots=True)
class _ConnState:
    record: ConnectionRecord
    sample_rate: int
    vad_signals: bool
    flush_signal: bool
    language: str
    buffer: bytearray = field(default_factory=bytearray)
    """Audio of the current utterance (or since the last finalisation)."""
    pending_frame: bytearray = field(default_factory=bytearray)
    speech_frames: int = 0
    silence_frames: int = 0
    in_speech: bool = False
    had_speech: bool = False
    utterances: list[UtteranceRecord] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    reply_tasks: set[asyncio.Task[None]] = field(default_factory=set)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_message_at: float = 0.0


class FakeSarvamSTTServer(FakeWebSocketServer):
    """Fake Sarvam streaming STT server. See the module docstring.

    Switches (public attributes): ``transcripts`` (the script, consumed in order across
    connections; ``""`` once exhausted), ``endpointing`` (``"energy"`` finalises after
    ``silence_ms`` of silence; ``"auto"``, the default, does so only when the client did not ask
    for ``flush_signal=true``; ``"flush"`` only on flush), ``energy_threshold`` (RMS of a 20 ms
    frame, in 16-bit units), ``silence_ms``, ``min_speech_ms``, ``empty_flush_reply`` (answer a
    flush on a buffer with no speech with ``transcript: ""``, else say nothing),
    ``flush_requires_signal``, ``processing_latency_s`` (delay of each reply, while audio keeps
    flowing), ``first_message_delay_s``, ``language_code`` (None: the requested one, or hi-IN
    for ``unknown``), ``omit_language`` / ``null_language`` (language fields missing or null),
    ``extra_fields``, ``end_speech_order`` (``"after"`` or ``"before"`` the transcript),
    ``duplicate_end_speech``, ``vad_without_transcript`` (next utterance gets START/END but no
    transcript), ``idle_timeout_s`` (close 1008 when nothing is received for that long),
    ``close_after_connect`` ((code, reason) right after accepting), and from the base class
    ``reject_status``, ``auth_status``, ``handshake_delay_s``.
    Methods: :meth:`fail_next_utterance`, :meth:`close_all`, :meth:`abort_all`,
    :meth:`send_raw_all`.
    """

    path = "/speech-to-text/ws"

    def __init__(
        self,
        *,
        transcripts: list[str] | None = None,
        api_key: str = "test-key",
        endpointing: Literal["auto", "energy", "flush"] = "auto",
    ) -> None:
        super().__init__(api_key=api_key)
        self.transcripts: list[str] = list(transcripts or [])
        self.endpointing = endpointing
        self.energy_threshold = 400.0
        self.silence_ms = 600
        self.min_speech_ms = 60
        self.empty_flush_reply = True
        self.flush_requires_signal = False
        self.processing_latency_s = 0.0
        self.first_message_delay_s = 0.0
        self.language_code: str | None = None
        self.omit_language = False
        self.null_language = False
        self.extra_fields: dict[str, JSONValue] = {}
        self.end_speech_order: Literal["after", "before"] = "after"
        self.duplicate_end_speech = False
        self.vad_without_transcript = False
        self.idle_timeout_s: float | None = None
        self.close_after_connect: tuple[int, str] | None = None
        self.utterances: list[UtteranceRecord] = []
        """Every utterance finalised, across connections, in order."""
        self._failures: list[STTFailure] = []
        self._script_index = 0
        self._request_ids = itertools.count(1)

    # -- switches ------------------------------------------------------------------------------

    def fail_next_utterance(self, failure: STTFailure | None = None) -> None:
        """Instead of answering the next utterance, fail as ``failure`` says (default: close
        1011). The script entry is not consumed, so a client that resends gets it."""
        self._failures.append(failure or STTFailure())

    @property
    def transcripts_sent(self) -> list[str]:
        return [u.transcript for u in self.utterances if u.transcript is not None]

    # -- handshake -----------------------------------------------------------------------------

    def _validate_params(self, params: dict[str, str]) -> str | None:
        model = params.get("model", STT_DEFAULT_MODEL)
        if model not in STT_MODELS:
            return f"invalid model {model!r}"
        language = params.get("language-code", params.get("language_code", "unknown"))
        if language not in STT_LANGUAGES:
            return f"invalid language-code {language!r}"
        rate = params.get("sample_rate", "16000")
        if rate not in ("16000", "8000"):
            return f"invalid sample_rate {rate!r}, expected 16000 or 8000"
        codec = params.get("input_audio_codec")
        if codec is not None and codec not in _CODECS:
            return f"invalid input_audio_codec {codec!r}"
        mode = params.get("mode")
        if mode is not None and (mode not in _MODES or not model.startswith("saaras")):
            return f"invalid mode {mode!r} for model {model!r}"
        for name in _BOOL_PARAMS:
            if params.get(name, "false") not in ("true", "false"):
                return f"invalid {name} {params[name]!r}, expected 'true' or 'false'"
        return None

    # -- connection ----------------------------------------------------------------------------

    async def serve_connection(self, ws: ServerConnection, record: ConnectionRecord) -> None:
        params = record.params
        language = params.get("language-code", params.get("language_code", "unknown"))
        state = _ConnState(
            record=record,
            sample_rate=int(params.get("sample_rate", "16000")),
            vad_signals=params.get("vad_signals") == "true",
            flush_signal=params.get("flush_signal") == "true",
            language=language,
        )
        state.last_message_at = asyncio.get_running_loop().time()
        if self.close_after_connect is not None:
            code, reason = self.close_after_connect
            record.close_code = code
            await ws.close(code, reason)
            return
        if self.first_message_delay_s:
            await asyncio.sleep(self.first_message_delay_s)
        idle_task = asyncio.create_task(self._idle_watch(ws, state))
        try:
            async for raw in ws:
                state.last_message_at = asyncio.get_running_loop().time()
                message = parse_message(raw, record)
                if message is not None:
                    await self._on_message(ws, state, message)
        finally:
            idle_task.cancel()
            for task in list(state.reply_tasks):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(idle_task, *state.reply_tasks, return_exceptions=True)

    async def _idle_watch(self, ws: ServerConnection, state: _ConnState) -> None:
        loop = asyncio.get_running_loop()
        while True:
            timeout = self.idle_timeout_s
            if timeout is None:
                await asyncio.sleep(0.05)
                continue
            idle = loop.time() - state.last_message_at
            if idle >= timeout:
                state.record.close_code = 1008
                await ws.close(1008, "connection idle for too long")
                return
            await asyncio.sleep(min(timeout - idle, 0.05) + 0.001)

    async def _on_message(
        self, ws: ServerConnection, state: _ConnState, message: dict[str, JSONValue]
    ) -> None:
        record = state.record
        kind = message.get("type")
        audio = message.get("audio")
        if kind == "flush":
            if not state.flush_signal:
                record.anomalies.append("flush while flush_signal is not true")
                if self.flush_requires_signal:
                    return
            await self._finalise(ws, state, "flush")
        elif kind == "end_of_stream":
            await self._finalise(ws, state, "end_of_stream")
        elif kind == "config":
            pass
        elif kind is None and isinstance(audio, dict):
            pcm = self._decode_audio(state, audio)
            if pcm:
                await self._feed(ws, state, pcm)
        else:
            record.anomalies.append(f"unknown message type {kind!r}")

    def _decode_audio(self, state: _ConnState, audio: dict[str, JSONValue]) -> bytes:
        record = state.record
        data = audio.get("data")
        rate = audio.get("sample_rate")
        if not isinstance(data, str):
            record.anomalies.append("audio without a string data field")
            return b""
        if not isinstance(rate, int) or rate not in _MESSAGE_RATES:
            record.anomalies.append(f"audio sample_rate {rate!r} is not an accepted rate")
        elif rate != state.sample_rate:
            record.anomalies.append(
                f"audio sample_rate {rate} differs from the connection's {state.sample_rate}"
            )
        if "encoding" not in audio:
            record.anomalies.append("audio without encoding")
        try:
            pcm = base64.b64decode(data, validate=True)
        except ValueError:
            record.anomalies.append("audio data is not valid base64")
            return b""
        if not pcm:
            record.anomalies.append("empty audio data")
        if pcm[:4] == b"RIFF" and len(pcm) >= 44:
            pcm = pcm[44:]
        if len(pcm) % 2:
            record.anomalies.append(f"odd audio byte count {len(pcm)}")
            pcm = pcm[:-1]
        state.audio.extend(pcm)
        return pcm

    async def _feed(self, ws: ServerConnection, state: _ConnState, pcm: bytes) -> None:
        frame_bytes = state.sample_rate // 50 * 2
        state.buffer.extend(pcm)
        state.pending_frame.extend(pcm)
        min_speech = max(1, self.min_speech_ms // 20)
        endpoint_on_silence = self.endpointing == "energy" or (
            self.endpointing == "auto" and not state.flush_signal
        )
        while len(state.pending_frame) >= frame_bytes:
            frame = bytes(state.pending_frame[:frame_bytes])
            del state.pending_frame[:frame_bytes]
            if _rms(frame) >= self.energy_threshold:
                state.speech_frames += 1
                state.silence_frames = 0
                if not state.in_speech and state.speech_frames >= min_speech:
                    state.in_speech = True
                    state.had_speech = True
                    await self._event(ws, state, "START_SPEECH")
            else:
                state.speech_frames = 0
                if state.in_speech:
                    state.silence_frames += 1
                    if state.silence_frames * 20 >= self.silence_ms:
                        state.in_speech = False
                        state.silence_frames = 0
                        if endpoint_on_silence:
                            await self._finalise(ws, state, "energy")
                        elif state.vad_signals:
                            await self._event(ws, state, "END_SPEECH")

    async def _finalise(
        self,
        ws: ServerConnection,
        state: _ConnState,
        reason: Literal["energy", "flush", "end_of_stream"],
    ) -> None:
        had_speech = state.had_speech
        utterance = UtteranceRecord(
            reason=reason, audio_bytes=len(state.buffer), had_speech=had_speech, transcript=None
        )
        state.buffer.clear()
        state.had_speech = False
        state.in_speech = False
        state.speech_frames = state.silence_frames = 0
        state.utterances.append(utterance)
        self.utterances.append(utterance)
        if not had_speech and not self.empty_flush_reply:
            return
        if had_speech and self._failures:
            await self._fail(ws, state, self._failures.pop(0))
            return
        end_speech = state.vad_signals and had_speech and reason == "energy"
        if had_speech and self.vad_without_transcript:
            self.vad_without_transcript = False
            if end_speech:
                await self._event(ws, state, "END_SPEECH")
            return
        if not self.processing_latency_s:
            # Inline, so the reply keeps its place among later events on this socket.
            await self._reply(ws, state, utterance, end_speech=end_speech)
            return
        task = asyncio.create_task(self._reply(ws, state, utterance, end_speech=end_speech))
        state.reply_tasks.add(task)
        task.add_done_callback(state.reply_tasks.discard)

    async def _reply(
        self,
        ws: ServerConnection,
        state: _ConnState,
        utterance: UtteranceRecord,
        *,
        end_speech: bool,
    ) -> None:
        if self.processing_latency_s:
            await asyncio.sleep(self.processing_latency_s)
        async with state.send_lock:
            if utterance.had_speech:
                index = self._script_index
                text = self.transcripts[index] if index < len(self.transcripts) else ""
            else:
                index, text = -1, ""
            if end_speech and self.end_speech_order == "before":
                await self._event(ws, state, "END_SPEECH", locked=True)
            language: JSONValue = self.language_code or (
                "hi-IN" if state.language == "unknown" else state.language
            )
            data: dict[str, JSONValue] = {
                "request_id": f"fake_{next(self._request_ids):06d}",
                "transcript": text,
                "timestamps": None,
                "diarized_transcript": None,
                "metrics": {
                    "audio_duration": round(utterance.audio_bytes / 2 / state.sample_rate, 3),
                    "processing_latency": self.processing_latency_s,
                },
            }
            if self.null_language:
                data["language_code"] = None
                data["language_probability"] = None
            elif not self.omit_language:
                data["language_code"] = language
                data["language_probability"] = 0.97 if state.language == "unknown" else None
            data.update(self.extra_fields)
            await ws.send(json.dumps({"type": "data", "data": data}))
            # Consumed only once delivered, so a client resending after a drop gets the same text.
            utterance.transcript = text
            if index >= 0:
                self._script_index = index + 1
            if end_speech and self.end_speech_order == "after":
                await self._event(ws, state, "END_SPEECH", locked=True)
            if end_speech and self.duplicate_end_speech:
                await self._event(ws, state, "END_SPEECH", locked=True)

    async def _event(
        self, ws: ServerConnection, state: _ConnState, signal: str, *, locked: bool = False
    ) -> None:
        if not state.vad_signals:
            return
        loop_time = asyncio.get_running_loop().time()
        message = json.dumps(
            {
                "type": "events",
                "data": {
                    "signal_type": signal,
                    "occured_at": round(1767225600.0 + loop_time, 3),
                    "event_type": "speech_event",
                },
            }
        )
        if locked:
            await ws.send(message)
        else:
            async with state.send_lock:
                await ws.send(message)

    async def _fail(self, ws: ServerConnection, state: _ConnState, failure: STTFailure) -> None:
        record = state.record
        if failure.kind in ("error", "error-then-close"):
            with contextlib.suppress(ConnectionClosed):
                await ws.send(
                    json.dumps(
                        {
                            "type": "error",
                            # The SDK's ErrorData types ``code`` as a string.
                            "data": {"error": failure.reason, "code": str(failure.error_code)},
                        }
                    )
                )
            if failure.kind == "error":
                return
        if failure.kind == "abort":
            record.close_code = 1006
            ws.transport.abort()
            return
        record.close_code = failure.code
        await ws.close(failure.code, failure.reason)


def _rms(frame: bytes) -> float:
    samples = np.frombuffer(frame, dtype="<i2").astype(np.float64)
    return math.sqrt(float(np.mean(samples * samples))) if samples.size else 0.0


def main(argv: list[str] | None = None) -> None:
    """Run the fake standalone: ``python -m vani.testing.fake_sarvam_stt --port 8765``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="test-key")
    parser.add_argument(
        "--transcript", action="append", default=[], help="next scripted transcript (repeat)"
    )
    args = parser.parse_args(argv)
    fake = FakeSarvamSTTServer(transcripts=args.transcript, api_key=args.api_key)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_until_cancelled(fake, args.port))


if __name__ == "__main__":
    main()
