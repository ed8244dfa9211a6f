"""TelephonyTransport: a phone call's media stream (Twilio, Telnyx, Plivo, Exotel) with playback
truth from the provider's marks.

It is a :class:`~vani.transports.websocket.WebSocketTransport` whose serializer is a telephony
one, plus what only a phone line has (see ``docs/telephony.md``):

* **Playback marks.** Text and control frames queued behind audio (each sentence's
  ``TTSTextFrame``, the response's start and end) are not released by the pacing clock: when one
  reaches the head of the playback queue after new audio, a provider mark goes out behind that
  audio and the frame is held until the provider echoes the mark, i.e. until the caller has really
  heard the audio. An assistant context aggregator after ``output()`` therefore keeps exactly the
  sentences whose marks came back. The bot stops speaking when the last mark is echoed (a mark is
  sent when the audio runs out); if a provider never echoes one, ``mark_timeout_secs`` after the
  pacing clock says the audio ended it counts as played, with a warning.
* **Barge-in.** On interruption the clear message is written before anything else (the writer's
  urgent lane; queued audio is dropped), held frames are discarded and the marks still out are
  forgotten: their echoes, which Twilio and Telnyx send at once on a clear, do not count as played.
* **Exotel has no marks.** Playback then follows the pacing clock alone, as for a browser; the
  transport says so in the log once per call.
* **Call facts.** The ``start`` message's ids and custom parameters are :attr:`TelephonyTransport.
  call`; ``on_client_connected`` fires only once they are known (output before ``start`` would have
  no stream to go to). The provider's ``stop`` ends the session at once (the caller hung up).
* **Hang-up.** When the pipeline ends (``EndFrame``) and the caller has not hung up, the call is
  ended through the provider's REST API (Twilio, Telnyx, Plivo), bounded and logged on failure.

Use :func:`read_call_start` to read the stream up to its ``start`` (detecting the provider if
needed) before building the pipeline, so the bot gets the call facts first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vani.errors import ConfigurationError, ProtocolError, SerializationError, ServiceError
from vani.frames import EndFrame, Frame, InputAudioRawFrame, InputDTMFFrame, StartFrame
from vani.processors import FrameProcessor
from vani.processors.timeouts import wait_bounded
from vani.serializers.detect import ProviderDetector, serializer_for
from vani.serializers.telephony import (
    AudioClearedFrame,
    CallEndedFrame,
    CallInfo,
    CallStartedFrame,
    PlaybackMarkFrame,
    ProviderErrorFrame,
    TelephonyFrameSerializer,
)
from vani.telephony.rest import TelephonyCredentials, hang_up
from vani.transports.base import BaseInputTransport, BaseOutputTransport, _PlaybackMarker
from vani.transports.clock import Clock, ClockHandle
from vani.transports.websocket.connection import CLOSE_NORMAL, WebSocketConnection
from vani.transports.websocket.transport import (
    WebSocketParams,
    WebSocketTransport,
    _WebSocketInput,
    _WebSocketOutput,
)

if TYPE_CHECKING:
    from starlette.websockets import WebSocket
    from websockets.asyncio.server import ServerConnection

__all__ = ["TelephonyParams", "TelephonyTransport", "read_call_start"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class TelephonyParams(WebSocketParams):
    """WebSocket settings (see :class:`~vani.transports.websocket.WebSocketParams`) and:

    ``hang_up_on_end``: end the call through the provider's REST API when the pipeline ends.
    ``credentials``: for that API (``None``: :meth:`TelephonyCredentials.from_env`).
    ``hang_up_timeout_secs``: the longest the REST call may take. ``mark_timeout_secs``: how long
    after the pacing clock says audio ended a missing mark echo is waited for.
    ``start_timeout_secs``: how long to wait for the provider's ``start`` before giving up.
    The output rate and chunk length follow the provider's format (set from the serializer).
    """

    hang_up_on_end: bool = True
    credentials: TelephonyCredentials | None = None
    hang_up_timeout_secs: float = 3.0
    mark_timeout_secs: float = 1.0
    start_timeout_secs: float = 5.0


async def read_call_start(
    connection: WebSocketConnection,
    *,
    provider: str | None = None,
    timeout_secs: float = 5.0,
) -> TelephonyFrameSerializer:
    """Accept ``connection`` and read it up to the provider's ``start`` message.

    ``provider`` names the serializer; ``None`` detects it from the first messages. Returns the
    call's serializer, started (``serializer.call`` holds the call facts). Frames that came before
    the start (early media) are dropped. Raises :class:`~vani.errors.ProtocolError` when no start
    arrives within ``timeout_secs`` or the stream is not a known provider's, and
    :class:`~vani.transports.websocket.ConnectionClosedError` if the socket closes first.
    """
    await connection.accept()
    detector: ProviderDetector | None = None
    serializer: TelephonyFrameSerializer | None = None
    if provider is not None:
        serializer = serializer_for(provider)
    else:
        detector = ProviderDetector()
    try:
        async with asyncio.timeout(timeout_secs):
            while True:
                data = await connection.recv()
                try:
                    if serializer is not None:
                        frames = serializer.deserialize(data)
                    else:
                        assert detector is not None
                        frames = detector.feed(data)
                        serializer = detector.serializer
                except SerializationError as exc:
                    if (
                        detector is not None
                        and detector.serializer is None
                        and "no telephony" in str(exc)
                    ):
                        raise ProtocolError(str(exc)) from exc
                    logger.info("telephony: dropped a message before the start: %s", exc)
                    continue
                if any(isinstance(f, CallStartedFrame) for f in frames):
                    assert serializer is not None
                    return serializer
    except TimeoutError as exc:
        raise ProtocolError(
            f"no telephony start message within {timeout_secs} s"
            + (f" (expected {provider})" if provider else "")
        ) from exc


class _Group:
    """Frames released together when the provider echoes mark ``name``."""

    __slots__ = ("frames", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.frames: list[Frame] = []


class _TelephonyInput(_WebSocketInput):
    _t: TelephonyTransport

    async def _push_received(self, frame: Frame) -> None:
        t = self._t
        if isinstance(frame, InputAudioRawFrame | InputDTMFFrame):
            await super()._push_received(frame)
        elif isinstance(frame, PlaybackMarkFrame):
            out = t._output
            if isinstance(out, _TelephonyOutput):
                await out.on_mark(frame.name)
        elif isinstance(frame, CallStartedFrame):
            await t._on_call_started()
        elif isinstance(frame, CallEndedFrame):
            t.caller_hung_up = True
            logger.info("%s: the call ended (%s)", t, frame.reason or "stop")
            t._lose(CLOSE_NORMAL, "caller hung up", by_client=True)
        elif isinstance(frame, ProviderErrorFrame):
            logger.warning("%s: provider error %s: %s", t, frame.code, frame.detail)
        elif isinstance(frame, AudioClearedFrame):
            pass
        else:
            await super()._push_received(frame)


class _TelephonyOutput(_WebSocketOutput):
    _t: TelephonyTransport

    def __init__(self, transport: TelephonyTransport, *, name: str | None = None) -> None:
        super().__init__(transport, name=name)
        self._groups: deque[_Group] = deque()
        self._mark_ids = 0
        self._audio_since_mark = False
        self._waiter: asyncio.Future[None] | None = None
        self._warned_timeout = False
        self.marks_sent = 0
        self.marks_played = 0

    @property
    def _marks_on(self) -> bool:
        return self._t.serializer.supports_marks

    # -- audio and marks ---------------------------------------------------------------------

    def _chunk_rules(self) -> tuple[int, int]:
        # The provider's unit and minimum payload, in output PCM bytes (the output rate is the
        # wire rate), so every chunk goes out whole and the serializer holds nothing back: a
        # remainder it held would wait for the next reply (no mark flushes it on Exotel).
        ser = self._t.serializer
        pcm_per_sec = self.sample_rate * 2
        unit = ser.unit_bytes * pcm_per_sec // ser.bytes_per_second
        least = ser.min_bytes * pcm_per_sec // ser.bytes_per_second
        return unit, max(unit, least)

    async def write_audio(self, chunk: bytes, *, at: float) -> None:
        await super().write_audio(chunk, at=at)
        self._audio_since_mark = True

    def _flush_serializer(self) -> None:
        t = self._t
        if t.closing:
            return
        message = t.serializer.flush_audio()
        if message is not None:
            t._writer.put(message, urgent=False)

    def _send_mark(self) -> _Group:
        self._flush_serializer()
        self._mark_ids += 1
        group = _Group(f"vani-{self._mark_ids}")
        message = self._t.serializer.mark(group.name)
        if message is not None and not self._t.closing:
            self._t._writer.put(message, urgent=False)
            self.marks_sent += 1
        self._groups.append(group)
        self._audio_since_mark = False
        return group

    def _marker_due(self, frame: Frame) -> float:
        return 0.0 if self._marks_on else self._playing_until

    async def _release(self, marker: _PlaybackMarker) -> None:
        frame = marker.frame
        if not self._marks_on:
            if marker.done is not None:
                self._flush_serializer()
            await super()._release(marker)
            return
        if marker.done is not None:
            # EndFrame: wait until the provider has played everything (bounded), then end. If
            # the caller is gone, nothing more will play: end at once.
            if not self._t.closing:
                if self._audio_since_mark:
                    self._send_mark()
                if self._groups:
                    await self._wait_marks()
                await self._release_groups(len(self._groups))
            self._groups.clear()
            await super()._release(marker)
            return
        if not frame.interruptible:
            await super()._release(marker)
            return
        if self._audio_since_mark:
            self._send_mark().frames.append(frame)
        elif self._groups:
            self._groups[-1].frames.append(frame)
        else:
            await super()._release(marker)  # nothing unplayed before it

    async def on_mark(self, name: str) -> None:
        """The provider echoed mark ``name``: release what waited for it (and marks before)."""
        count = 0
        for i, group in enumerate(self._groups):
            if group.name == name:
                count = i + 1
                break
        if count == 0:
            return  # a mark forgotten by a clear, or not ours
        self.marks_played += count
        await self._release_groups(count)

    async def _release_groups(self, count: int) -> None:
        for _ in range(min(count, len(self._groups))):
            group = self._groups.popleft()
            for frame in group.frames:
                await BaseOutputTransport._release(self, _PlaybackMarker(frame))
        if not self._groups:
            self._wake_waiter()

    def _wake_waiter(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _poke(self) -> None:
        super()._poke()
        self._wake_waiter()  # new audio: the bot is not stopping after all

    async def _wait_marks(self) -> bool:
        """Wait for the last mark's echo, new output, or the mark timeout; True if timed out."""
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        deadline = self._playing_until + self._t.params.mark_timeout_secs
        handle: ClockHandle = self.clock.call_at(deadline, lambda: self._wake_waiter())
        try:
            await waiter
        finally:
            handle.cancel()
            self._waiter = None
        if self._groups and self.clock.now() >= deadline and not self._pq:
            if not self._warned_timeout:
                self._warned_timeout = True
                logger.warning(
                    "%s: %s echoed no mark within %s s of the audio's end; counting it as played",
                    self._t,
                    self._t.serializer.provider,
                    self._t.params.mark_timeout_secs,
                )
            await self._release_groups(len(self._groups))
            return True
        return False

    async def _set_speaking(self, speaking: bool) -> None:
        if not speaking and self._speaking and self._marks_on and not self._t.closing:
            if self._audio_since_mark:
                self._send_mark()
            if self._groups:
                await self._wait_marks()
                if self._groups or self._pq:
                    return  # still playing, or more audio came: the loop goes round again
        await super()._set_speaking(speaking)

    async def clear_playback(self, *, at: float) -> None:
        # The clear goes out first (urgent lane); what waited for a mark was never heard.
        await super().clear_playback(at=at)
        self._groups.clear()
        self._audio_since_mark = False
        self._wake_waiter()

    def discard(self) -> None:
        super().discard()
        self._groups.clear()
        self._wake_waiter()

    # -- the end -----------------------------------------------------------------------------

    async def stop(self, frame: EndFrame) -> None:
        await self._t._hang_up()
        await super().stop(frame)


class TelephonyTransport(WebSocketTransport):
    """A phone call over a provider's media stream: ``input()`` first, ``output()`` last.

    ``connection``: the media-stream socket (any adapter :class:`WebSocketTransport` takes).
    ``serializer``: the provider's (from :func:`read_call_start`, or a fresh one:
    ``TwilioFrameSerializer()`` etc.). The output rate, chunk length and playback tracking follow
    the provider. Events: those of :class:`WebSocketTransport` plus ``on_call_started(transport,
    call)`` when the ``start`` message arrives (or at once if it already had).
    """

    def __init__(
        self,
        connection: WebSocketConnection | WebSocket | ServerConnection,
        serializer: TelephonyFrameSerializer,
        params: TelephonyParams | None = None,
        *,
        clock: Clock | None = None,
        name: str | None = None,
    ) -> None:
        if not isinstance(serializer, TelephonyFrameSerializer):
            raise ConfigurationError(
                f"expected a telephony serializer, got {type(serializer).__name__}"
            )
        # A copy: the rate and chunking below are this call's provider's, and one params
        # object may serve calls from several providers.
        params = dataclasses.replace(params) if params is not None else TelephonyParams()
        params.audio_out_sample_rate = serializer.sample_rate
        params.audio_out_channels = 1
        params.audio_in_channels = 1
        # Chunks are whole provider units (Twilio 20 ms; Exotel 320 bytes) and at least the
        # provider's minimum (Exotel 100 ms and 3.2 KB).
        unit = math.ceil(serializer.unit_bytes * 100 / serializer.bytes_per_second)
        least = math.ceil(serializer.min_chunk_secs * 100 - 1e-9)
        chunks = max(params.audio_out_10ms_chunks, least)
        params.audio_out_10ms_chunks = -(-chunks // unit) * unit
        super().__init__(
            connection, serializer, params, clock=clock, name=name or serializer.provider
        )
        self.params: TelephonyParams = params
        self.serializer: TelephonyFrameSerializer = serializer
        self.caller_hung_up = False
        self.hung_up_via_api: bool | None = None
        self._call_started_fired = False
        self._connect_pending = False
        self._register_event_handler("on_call_started")
        if not serializer.supports_marks:
            logger.info(
                "%s: %s sends no playback marks; what the caller heard follows the pacing clock",
                self,
                serializer.provider,
            )

    @property
    def call(self) -> CallInfo:
        """The call's facts (complete once the provider's ``start`` has arrived)."""
        return self.serializer.call

    def input(self) -> BaseInputTransport:
        if self._input is None:
            self._input = _TelephonyInput(self, name=f"{self._name}.input")
        return self._input

    def output(self) -> BaseOutputTransport:
        if self._output is None:
            self._output = _TelephonyOutput(self, name=f"{self._name}.output")
        return self._output

    async def _on_start(self, frame: StartFrame, half: FrameProcessor) -> None:
        first = not self._setup_done
        await super()._on_start(frame, half)
        if first and self.serializer.started and not self.closing:
            self._spawn(self._on_call_started())
        elif first and not self.closing:
            self._spawn(self._await_start())

    async def _await_start(self) -> None:
        await asyncio.sleep(self.params.start_timeout_secs)
        if not self.serializer.started and not self.closing:
            logger.warning(
                "%s: no start message within %s s; ending the call",
                self,
                self.params.start_timeout_secs,
            )
            await self._shutdown(CLOSE_NORMAL, "no start message", by_client=False)

    async def _fire_connected(self) -> None:
        # Output before the provider's start has no stream to go to: connect once it is known.
        if not self.serializer.started:
            self._connect_pending = True
            return
        await super()._fire_connected()

    async def _on_call_started(self) -> None:
        if self._call_started_fired:
            return
        self._call_started_fired = True
        await self._call_event_handler("on_call_started", self.serializer.call)
        if self._connect_pending or not self._connected_fired:
            self._connect_pending = False
            await super()._fire_connected()

    async def _hang_up(self) -> None:
        """End the call through the provider's API (once, unless the caller already hung up)."""
        if (
            not self.params.hang_up_on_end
            or self.caller_hung_up
            or self.hung_up_via_api is not None
        ):
            return
        provider = self.serializer.provider
        creds = self.params.credentials or TelephonyCredentials.from_env()
        call_id = self.call.call_id
        if provider == "exotel" or not call_id:
            return  # no API: closing the stream ends the bot's part of the call
        if not creds.has(provider):
            logger.warning(
                "%s: no %s credentials; the call is left to end on its own", self, provider
            )
            return
        try:
            request = asyncio.ensure_future(hang_up(provider, call_id, creds))
            if not await wait_bounded(request, self.params.hang_up_timeout_secs):
                raise TimeoutError
            ended = request.result()
            self.hung_up_via_api = ended
            logger.info(
                "%s: %s call %s %s",
                self,
                provider,
                call_id,
                "hung up" if ended else "had already ended",
            )
        except (TimeoutError, ServiceError, ConfigurationError) as exc:
            self.hung_up_via_api = False
            logger.warning("%s: could not hang up %s call %s: %r", self, provider, call_id, exc)
