"""Sarvam streaming speech-to-text over its WebSocket (see ``docs/services.md``).

Two ways to find turns:

* ``vad_source="local"`` (default): our own VAD decides. Audio is sent only while the user
  speaks, plus ``preroll_ms`` from before the VAD fired (it fires after some speech has already
  passed); when the user stops, ``{"type":"flush"}`` makes Sarvam finalise at once, and the
  reply becomes one ``TranscriptionFrame`` for the turn. Between turns, 100 ms of silence every
  ``keepalive_interval_s`` keeps Sarvam from closing the idle socket.
* ``vad_source="sarvam"``: all audio is streamed and Sarvam's ``START_SPEECH``/``END_SPEECH``
  events drive ``UserStartedSpeakingFrame``/``UserStoppedSpeakingFrame`` (and the interruption).

Every turn ends in exactly one ``TranscriptionFrame``, pushed after the turn's stop; its text is
``""`` when Sarvam heard nothing, which closes the turn without an LLM run.

Resilience: a dropped socket reconnects with backoff; turns whose transcript had not arrived are
sent again on the new socket (their audio is kept until answered, up to ``max_resend_s`` per
turn), so no transcript is lost or attributed to another turn. A refused key (HTTP 401/403) is
a fatal ``ErrorFrame``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from vani.errors import ConfigurationError, ServiceConnectionError
from vani.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    FrameDirection,
    InputAudioRawFrame,
    JSONValue,
    MetricsFrame,
    StartFrame,
    STTUsageMetricsData,
    TranscriptionFrame,
    TTFBMetricsData,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from vani.processors import FrameProcessor
from vani.processors.timeouts import wait_bounded
from vani.services.sarvam._common import (
    AUTH_HEADER,
    DEFAULT_BASE_URL,
    Resampler,
    backoff_delay,
    close_verdict,
    handshake_error,
    make_resampler,
    normalise_base_url,
    resolve_api_key,
)
from vani.services.sarvam._protocol import (
    ServerError,
    SpeechSignal,
    Transcript,
    parse_stt_message,
)

__all__ = ["SarvamSTTService"]

logger = logging.getLogger(__name__)

_FLUSH = '{"type":"flush"}'
_SERVICE = "stt"


@dataclass(slots=True, eq=False)
class _Turn:
    """One user turn: its audio (kept until answered, for resending), what Sarvam said so far."""

    number: int
    chunks: list[bytes] = field(default_factory=list)
    sent: int = 0
    """Chunks sent on the current socket."""
    kept_bytes: int = 0
    """Bytes of ``chunks`` sent on the current socket and still kept."""
    trimmed: bool = False
    """Audio from the start of the turn was dropped: a resend is partial."""
    flushed: bool = False
    flush_sent: bool = False
    flush_sent_at: float = 0.0
    texts: list[str] = field(default_factory=list)
    timer: asyncio.Task[object] | None = None
    answered: bool = False
    """Sarvam VAD mode: the transcript arrived."""
    language: str | None = None
    result: dict[str, JSONValue] = field(default_factory=dict)


_SILENCE: dict[int, bytes] = {}


def _silence_100ms(sample_rate: int) -> bytes:
    """100 ms of s16 silence, one immutable copy per rate for every session."""
    silence = _SILENCE.get(sample_rate)
    if silence is None:
        silence = _SILENCE[sample_rate] = bytes(sample_rate * 2 // 10)
    return silence


class SarvamSTTService(FrameProcessor):
    """Sarvam streaming STT. Consumes ``InputAudioRawFrame`` (passed on unchanged) and VAD/turn
    frames; emits one ``TranscriptionFrame`` per turn (text, language, ISO timestamp, and the
    raw Sarvam ``data`` as ``result``), metrics (time from flush to transcript) and, with
    ``vad_source="sarvam"``, user speaking frames.

    ``sample_rate`` is what Sarvam gets (16000 or 8000); input at another rate is resampled.
    ``language`` is a BCP-47 code such as ``"hi-IN"`` or ``"unknown"`` for auto-detection.
    ``audio_passthrough=False`` (Pipecat's spelling) keeps the input audio here instead of
    passing it on: nothing after the STT then carries it, nor queues it while the LLM runs;
    keep the default when a later processor needs the caller's audio (a recorder).
    Not thread-safe: use from the pipeline's event loop.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        model: str = "saaras:v3",
        language: str = "unknown",
        mode: str | None = None,
        sample_rate: int = 16000,
        vad_source: Literal["local", "sarvam"] = "local",
        preroll_ms: int = 400,
        high_vad_sensitivity: bool | None = None,
        extra_params: dict[str, str] | None = None,
        keepalive_interval_s: float = 8.0,
        transcript_timeout_s: float = 3.0,
        reconnect_base_delay_s: float = 0.25,
        reconnect_max_delay_s: float = 8.0,
        max_reconnect_attempts: int = 8,
        max_resend_s: float = 30.0,
        audio_passthrough: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.audio_passthrough = audio_passthrough
        if sample_rate not in (8000, 16000):
            raise ConfigurationError(f"expected sample_rate 16000 or 8000, got {sample_rate}")
        if vad_source not in ("local", "sarvam"):
            raise ConfigurationError(f"expected vad_source 'local' or 'sarvam', got {vad_source!r}")
        if preroll_ms < 0:
            raise ConfigurationError(f"expected preroll_ms >= 0, got {preroll_ms}")
        self._api_key = resolve_api_key(api_key)
        self._base_url = normalise_base_url(base_url)
        self._model = model
        self._language = language
        self._sample_rate = sample_rate
        self._usage_bytes = 0  # audio sent since the last usage report
        self._vad_source = vad_source
        self._preroll_ms = preroll_ms
        self._keepalive_interval_s = keepalive_interval_s
        self._transcript_timeout_s = transcript_timeout_s
        self._reconnect_base_delay_s = reconnect_base_delay_s
        self._reconnect_max_delay_s = reconnect_max_delay_s
        self._max_reconnect_attempts = max_reconnect_attempts
        # Audio kept per turn for resending after a reconnect; older audio of a longer turn is
        # dropped once sent, bounding memory per session.
        self._max_resend_bytes = int(max_resend_s * sample_rate * 2)
        params: dict[str, str] = {
            "model": model,
            "language-code": language,
            "sample_rate": str(sample_rate),
            "input_audio_codec": "pcm_s16le",
            "vad_signals": "true" if vad_source == "sarvam" else "false",
            "flush_signal": "true" if vad_source == "local" else "false",
        }
        if mode is not None:
            params["mode"] = mode
        if high_vad_sensitivity is not None:
            params["high_vad_sensitivity"] = "true" if high_vad_sensitivity else "false"
        params.update(extra_params or {})
        self._url = f"{self._base_url}/speech-to-text/ws?{urlencode(params)}"
        # The audio message is built by concatenation: base64 is JSON-safe, and json.dumps
        # per 20 ms frame would triple the client's cost.
        self._msg_head = '{"audio":{"data":"'
        self._msg_tail = f'","sample_rate":{sample_rate},"encoding":"audio/wav"}}}}'

        self._ws: ClientConnection | None = None
        self._connection_task: asyncio.Task[object] | None = None
        self._keepalive_task: asyncio.Task[object] | None = None
        self._stopping = False
        self._pumping = False
        self._last_send_at = 0.0
        self._resampler: Resampler | None = None
        self._input_rate = sample_rate
        self._carry = b""
        # local VAD mode
        self._preroll: deque[bytes] = deque()
        self._preroll_bytes = 0
        self._turns: deque[_Turn] = deque()
        self._active: _Turn | None = None
        self._turn_count = 0
        self._turn_closed = asyncio.Event()
        # sarvam VAD mode
        self._backlog: deque[bytes] = deque(maxlen=100)
        self._speech_turn: _Turn | None = None
        self.connections_opened = 0
        """How many sockets were opened (reconnects included); for tests and metrics."""

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        self._input_rate = frame.audio_in_sample_rate
        if self._input_rate != self._sample_rate:
            self._resampler = make_resampler(self._input_rate, self._sample_rate)
        self._stopping = False
        self._connection_task = self.create_task(self._connection_loop(), name="sarvam-stt-conn")
        if self._vad_source == "local" and self._keepalive_interval_s > 0:
            self._keepalive_task = self.create_task(self._keepalive_loop(), name="sarvam-stt-ka")

    async def stop(self, frame: EndFrame) -> None:
        await super().stop(frame)
        # A graceful end still delivers the last words: flush an open turn and wait (at most
        # transcript_timeout_s) for the transcripts still owed.
        if self._vad_source == "local":
            await self._end_turn()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._transcript_timeout_s
        while self._turns and self._ws is not None and loop.time() < deadline:
            self._turn_closed.clear()
            await wait_bounded(self._turn_closed.wait(), max(0.0, deadline - loop.time()))
        await self._shutdown()

    async def cancel(self, frame: CancelFrame) -> None:
        await super().cancel(frame)
        await self._shutdown()

    async def _shutdown(self) -> None:
        self._stopping = True
        # Take the socket before cancelling the connection task: its cleanup forgets the socket
        # without closing it, which left one open connection per call behind.
        ws, self._ws = self._ws, None
        for task in (self._keepalive_task, self._connection_task):
            if task is not None:
                await self.cancel_task(task)
        for turn in self._turns:
            if turn.timer is not None:
                await self.cancel_task(turn.timer)
        self._keepalive_task = self._connection_task = None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()

    # -- frames --------------------------------------------------------------------------------

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            await self._on_audio(frame)
            if not self.audio_passthrough:
                return
        elif self._vad_source == "local":
            if isinstance(frame, VADUserStartedSpeakingFrame | UserStartedSpeakingFrame):
                self._begin_turn()
            elif isinstance(frame, VADUserStoppedSpeakingFrame | UserStoppedSpeakingFrame):
                await self._end_turn()
        await self.push_frame(frame, direction)

    async def _on_audio(self, frame: InputAudioRawFrame) -> None:
        audio = frame.audio
        if frame.num_channels != 1:
            audio = _first_channel(audio, frame.num_channels)
        if self._resampler is not None:
            audio = self._resampler.resample(audio)
        if not audio:
            return
        if self._vad_source == "sarvam":
            await self._send_live(audio)
        elif self._active is not None:
            self._active.chunks.append(audio)
            await self._pump()
        else:
            self._preroll.append(audio)
            self._preroll_bytes += len(audio)
            limit = self._sample_rate * 2 * self._preroll_ms // 1000
            while self._preroll and self._preroll_bytes - len(self._preroll[0]) >= limit:
                self._preroll_bytes -= len(self._preroll.popleft())

    def _audio_message(self, pcm: bytes) -> str:
        self._usage_bytes += len(pcm)
        return self._msg_head + base64.b64encode(pcm).decode("ascii") + self._msg_tail

    # -- local VAD: turns ----------------------------------------------------------------------

    def _begin_turn(self) -> None:
        if self._active is not None:
            return
        self._turn_count += 1
        turn = _Turn(number=self._turn_count, chunks=list(self._preroll))
        self._preroll.clear()
        self._preroll_bytes = 0
        self._active = turn
        self._turns.append(turn)

    async def _end_turn(self) -> None:
        turn = self._active
        if turn is None:
            return
        self._active = None
        turn.flushed = True
        await self._pump()

    async def _pump(self) -> None:
        """Send every unsent chunk and flush of every open turn, oldest first.

        Re-entrant calls return at once: the running pump picks up what they added, so audio
        appended while a resend is in progress keeps its order.
        """
        ws = self._ws
        if ws is None or self._pumping:
            return
        self._pumping = True
        loop = asyncio.get_running_loop()
        try:
            progressed = True
            while progressed and ws is self._ws:
                progressed = False
                for turn in tuple(self._turns):
                    while turn.sent < len(turn.chunks):
                        chunk = turn.chunks[turn.sent]
                        turn.sent += 1
                        turn.kept_bytes += len(chunk)
                        await ws.send(self._audio_message(chunk))
                        progressed = True
                    if turn.kept_bytes > self._max_resend_bytes:
                        self._trim(turn)
                    if turn.flushed and not turn.flush_sent:
                        turn.flush_sent = True
                        turn.flush_sent_at = loop.time()
                        await ws.send(_FLUSH)
                        self._arm_timer(turn)
                        progressed = True
            self._last_send_at = loop.time()
        except ConnectionClosed:
            pass  # the connection loop sees it too, reconnects, and resends
        finally:
            self._pumping = False

    def _trim(self, turn: _Turn) -> None:
        """Drop the oldest sent audio of an over-long turn, down to ``max_resend_s``."""
        drop = 0
        while drop < turn.sent and turn.kept_bytes > self._max_resend_bytes:
            turn.kept_bytes -= len(turn.chunks[drop])
            drop += 1
        if drop:
            del turn.chunks[:drop]
            turn.sent -= drop
            turn.trimmed = True

    def _arm_timer(self, turn: _Turn) -> None:
        if turn.timer is not None:
            turn.timer.cancel()
        turn.timer = self.create_task(
            self._turn_timeout(turn), name=f"sarvam-stt-turn{turn.number}"
        )

    async def _turn_timeout(self, turn: _Turn) -> None:
        await asyncio.sleep(self._transcript_timeout_s)
        turn.timer = None
        if turn not in self._turns:
            return
        logger.warning(
            "sarvam stt: no transcript %.1f s after the flush of turn %d; closing it and "
            "opening a fresh socket so a late reply cannot land on another turn",
            self._transcript_timeout_s,
            turn.number,
        )
        await self._close_turn(turn, None, {})
        ws = self._ws
        if ws is not None:
            await ws.close(1000, "transcript timeout")

    async def _close_turn(
        self, turn: _Turn, language: str | None, result: dict[str, JSONValue]
    ) -> None:
        with contextlib.suppress(ValueError):
            self._turns.remove(turn)
        self._turn_closed.set()
        timer = turn.timer if turn.timer is not asyncio.current_task() else None
        if timer is not None:
            # Stopped now, awaited after the transcript went down: waiting for the task to
            # end takes a turn of the loop the reply should not wait for.
            timer.cancel()
            turn.timer = None
        text = " ".join(t for t in turn.texts if t)
        await self._emit_transcript(text, language, result)
        if timer is not None:
            await self.cancel_task(timer)

    async def _emit_transcript(
        self, text: str, language: str | None, result: dict[str, JSONValue]
    ) -> None:
        if language is None and self._language != "unknown":
            language = self._language
        usage = None
        if self._usage_bytes and self.usage_metrics_enabled:
            seconds = self._usage_bytes / (2 * self._sample_rate)
            usage = STTUsageMetricsData(self.name, self._model, audio_seconds=seconds)
        self._usage_bytes = 0
        # The transcript first: the reply starts from it, and the metrics can follow.
        await self.push_frame(
            TranscriptionFrame(
                text=text,
                user_id="",
                timestamp=datetime.now(UTC).isoformat(timespec="milliseconds"),
                language=language,
                result=result,
            )
        )
        if usage is not None:
            await self.push_frame(MetricsFrame(data=[usage]))

    # -- sarvam VAD mode -----------------------------------------------------------------------

    async def _send_live(self, audio: bytes) -> None:
        ws = self._ws
        if ws is None or self._pumping:
            self._backlog.append(audio)
            return
        try:
            await ws.send(self._audio_message(audio))
        except ConnectionClosed:
            self._backlog.append(audio)
            return
        self._last_send_at = asyncio.get_running_loop().time()

    async def _send_backlog(self, ws: ClientConnection) -> None:
        self._pumping = True
        try:
            while self._backlog:
                await ws.send(self._audio_message(self._backlog.popleft()))
        finally:
            self._pumping = False

    async def _on_vad_event(self, signal: str) -> None:
        if signal == "START_SPEECH":
            if self._speech_turn is not None:
                return
            self._turn_count += 1
            self._speech_turn = _Turn(number=self._turn_count)
            self._turns.append(self._speech_turn)
            await self.push_frame(UserStartedSpeakingFrame())
            await self.push_frame(UserStartedSpeakingFrame(), FrameDirection.UPSTREAM)
            if self.interruptions_allowed:
                await self.broadcast_interruption()
        elif signal == "END_SPEECH":
            turn = self._speech_turn
            if turn is None:
                return  # a duplicate END_SPEECH, or one without a START
            self._speech_turn = None
            turn.flushed = True
            await self.push_frame(UserStoppedSpeakingFrame())
            await self.push_frame(UserStoppedSpeakingFrame(), FrameDirection.UPSTREAM)
            if not turn.answered:
                turn.timer = self.create_task(
                    self._speech_turn_timeout(turn), name=f"sarvam-stt-turn{turn.number}"
                )
            await self._emit_answered_turns()

    async def _abandon_speech_turns(self) -> None:
        """Sarvam VAD mode, new socket: the old socket's turns get no more events or
        transcripts, so end them now with what they have (possibly nothing)."""
        if self._speech_turn is not None:
            self._speech_turn = None
            await self.push_frame(UserStoppedSpeakingFrame())
            await self.push_frame(UserStoppedSpeakingFrame(), FrameDirection.UPSTREAM)
        for turn in self._turns:
            turn.flushed = turn.answered = True
        await self._emit_answered_turns()

    async def _speech_turn_timeout(self, turn: _Turn) -> None:
        await asyncio.sleep(self._transcript_timeout_s)
        turn.timer = None
        if not turn.answered:
            turn.answered = True  # Sarvam heard speech but had no words for it
            await self._emit_answered_turns()

    async def _emit_answered_turns(self) -> None:
        """Emit, in order, every turn that has both ended and got its transcript."""
        while self._turns and self._turns[0].flushed and self._turns[0].answered:
            turn = self._turns.popleft()
            self._turn_closed.set()
            if turn.timer is not None:
                await self.cancel_task(turn.timer)
                turn.timer = None
            text = " ".join(t for t in turn.texts if t)
            await self._emit_transcript(text, turn.language, turn.result)

    # -- connection ----------------------------------------------------------------------------

    async def _connection_loop(self) -> None:
        attempt = 0
        loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                ws = await connect(
                    self._url,
                    additional_headers={AUTH_HEADER: self._api_key},
                    compression=None,
                    open_timeout=10,
                    ping_interval=20,
                    ping_timeout=20,
                    max_size=None,
                )
            except InvalidStatus as exc:
                error = handshake_error(exc, _SERVICE)
                if not error.retryable:
                    await self.push_error(str(error), exception=error, fatal=True)
                    return
                message = str(error)
            except (OSError, TimeoutError, WebSocketException) as exc:
                message = f"sarvam stt could not connect: {exc!r}"
            else:
                opened_at = loop.time()
                self.connections_opened += 1
                code, reason = await self._serve(ws)
                if self._is_stopping():
                    return
                verdict = close_verdict(code, reason, _SERVICE)
                if not verdict.retry:
                    error = ServiceConnectionError(verdict.message, retryable=False)
                    await self.push_error(verdict.message, exception=error, fatal=True)
                    return
                if verdict.report:
                    await self.push_error(verdict.message)
                else:
                    logger.info("%s; reconnecting", verdict.message)
                if loop.time() - opened_at > 5.0:
                    attempt = 0  # it was up for a while: this is a fresh failure
                if attempt == 0 and not verdict.report:
                    delay = 0.0  # an idle or normal close: reconnect at once
                else:
                    delay = max(
                        verdict.delay_floor_s,
                        backoff_delay(
                            attempt, self._reconnect_base_delay_s, self._reconnect_max_delay_s
                        ),
                    )
                attempt += 1
                if attempt > self._max_reconnect_attempts:
                    await self._give_up(verdict.message)
                    return
                await asyncio.sleep(delay)
                continue
            attempt += 1
            if attempt > self._max_reconnect_attempts:
                await self._give_up(message)
                return
            logger.warning("%s; retry %d in a moment", message, attempt)
            await asyncio.sleep(
                backoff_delay(
                    attempt - 1, self._reconnect_base_delay_s, self._reconnect_max_delay_s
                )
            )

    def _is_stopping(self) -> bool:
        # A method, not the attribute, so type checkers do not assume it cannot change across
        # an await.
        return self._stopping

    async def _give_up(self, message: str) -> None:
        text = (
            f"sarvam stt gave up after {self._max_reconnect_attempts} reconnect attempts: {message}"
        )
        await self.push_error(text, exception=ServiceConnectionError(text), fatal=True)

    async def _serve(self, ws: ClientConnection) -> tuple[int | None, str]:
        """Run one socket until it closes; return the close code and reason."""
        if self._vad_source == "sarvam":
            await self._abandon_speech_turns()
        for turn in self._turns:
            # A new socket knows nothing: every unanswered turn is sent again from its start.
            if turn.trimmed:
                logger.warning(
                    "sarvam stt: turn %d is longer than max_resend_s; resending its last part",
                    turn.number,
                )
            turn.sent = 0
            turn.kept_bytes = 0
            turn.flush_sent = False
            turn.texts.clear()
            if turn.timer is not None:
                await self.cancel_task(turn.timer)
                turn.timer = None
        self._ws = ws
        try:
            if self._vad_source == "local":
                await self._pump()
            else:
                await self._send_backlog(ws)
            async for raw in ws:
                await self._on_message(raw)
        except ConnectionClosed:
            pass
        finally:
            if self._ws is ws:
                self._ws = None
        rcvd = ws.protocol.close_rcvd
        if rcvd is None:
            return None, ""
        return rcvd.code, rcvd.reason

    async def _keepalive_loop(self) -> None:
        loop = asyncio.get_running_loop()
        silence = _silence_100ms(self._sample_rate)
        while True:
            await asyncio.sleep(self._keepalive_interval_s / 4)
            ws = self._ws
            if ws is None or self._pumping or self._active is not None:
                continue
            if loop.time() - self._last_send_at >= self._keepalive_interval_s:
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(self._audio_message(silence))
                self._last_send_at = loop.time()

    # -- messages ------------------------------------------------------------------------------

    async def _on_message(self, raw: str | bytes) -> None:
        event = parse_stt_message(raw)
        if isinstance(event, Transcript):
            await self._on_transcript(event)
        elif isinstance(event, SpeechSignal):
            if self._vad_source == "sarvam":
                await self._on_vad_event(event.signal)
        elif isinstance(event, ServerError):
            await self.push_error(event.describe(_SERVICE))
        else:
            logger.warning("sarvam stt: skipping %s", event.reason)

    async def _on_transcript(self, event: Transcript) -> None:
        text, language, data = event.text, event.language, event.data
        if self._vad_source == "sarvam":
            # Sarvam answers utterances in order; END_SPEECH may come before or after the
            # transcript, so the oldest unanswered turn gets it and is emitted once ended.
            pending = next((t for t in self._turns if not t.answered), None)
            if pending is None:
                if text:  # no speech events (not enabled, or lost): a turn of its own
                    await self._emit_transcript(text, language, data)
                return
            pending.texts.append(text)
            pending.answered = True
            pending.language = language
            pending.result = data
            await self._emit_answered_turns()
            return
        if not self._turns:
            logger.info("sarvam stt: dropping a transcript that belongs to no turn: %.60r", text)
            return
        turn = self._turns[0]
        turn.texts.append(text)
        if not turn.flush_sent:
            return  # Sarvam endpointed inside the turn; the flush reply will close it
        ttfb = asyncio.get_running_loop().time() - turn.flush_sent_at
        await self._close_turn(turn, language, data)
        if self.metrics_enabled:
            await self.push_frame(
                MetricsFrame(
                    data=[TTFBMetricsData(processor=self.name, model=self._model, value=ttfb)]
                )
            )


def _first_channel(audio: bytes, channels: int) -> bytes:
    view = memoryview(audio).cast("h")
    return view[::channels].tobytes()
