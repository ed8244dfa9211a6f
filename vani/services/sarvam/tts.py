"""Sarvam streaming text-to-speech over its WebSocket (see ``docs/services.md``).

One socket, opened at start and kept open with ``{"type":"ping"}`` every ``ping_interval_s``:
``config`` first (``linear16`` at the output rate, ``send_completion_event=true`` in the query),
then per sentence a ``text`` and a ``flush``, so each sentence comes back as its audio followed
by a ``final`` event. That lets every ``TTSTextFrame`` go out right after the last audio of its
sentence (the convention every vani TTS follows): the output transport releases it once that
audio has played, so the assistant context records exactly the sentences heard in full.

Interruption: the socket of the interrupted utterance is abandoned (closed in the background)
and a fresh one opened, so Sarvam stops synthesising at once and no late audio can reach the
pipeline; the receiving task of the old socket is cancelled before anything else runs, and
every frame it would push is checked against the current generation.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from vani.errors import ConfigurationError, ServiceConnectionError, ServiceError
from vani.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    FrameDirection,
    InterimTranscriptionFrame,
    InterruptionFrame,
    JSONValue,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    MetricsFrame,
    StartFrame,
    TextFrame,
    TranscriptionFrame,
    TTFBMetricsData,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
    TTSUpdateSettingsFrame,
    TTSUsageMetricsData,
)
from vani.processors import FrameProcessor
from vani.processors.text import (
    DEFAULT_MAX_SENTENCE_CHARS,
    SentenceSplitter,
    clean_text_for_speech,
    split_sentences,
)
from vani.processors.timeouts import wait_bounded
from vani.services.sarvam._common import (
    AUTH_HEADER,
    DEFAULT_BASE_URL,
    Resampler,
    backoff_delay,
    close_abandoned,
    handshake_error,
    make_resampler,
    normalise_base_url,
    resolve_api_key,
)
from vani.services.sarvam._protocol import (
    AudioChunk,
    Final,
    ServerError,
    is_retryable,
    parse_tts_message,
    strip_riff,
)

__all__ = ["SUPPORTED_SAMPLE_RATES", "SarvamTTSService"]

logger = logging.getLogger(__name__)

SUPPORTED_SAMPLE_RATES = (8000, 16000, 22050, 24000)
_FLUSH = '{"type":"flush"}'
_PING = '{"type":"ping"}'
_SERVICE = "tts"


@dataclass(slots=True, eq=False)
class _Sentence:
    text: str
    spoken: bool = False
    """Its first audio arrived (and its TTSTextFrame went out)."""
    sent_on: int = -1
    """The connection generation it was sent on (-1: not sent)."""


@dataclass(slots=True, eq=False)
class _Utterance:
    """One reply being spoken: from its first sentence to the ``final`` of its last."""

    context_id: str
    sentences: deque[_Sentence] = field(default_factory=deque)
    """Sentences sent and not yet finished (``final`` not received), oldest first."""
    ended: bool = False
    """No more sentences will come (end of the LLM response, or a one-off text)."""
    end_frame: Frame | None = None
    """The LLMFullResponseEndFrame, held so it follows the utterance's audio."""
    sent_at: float = 0.0
    got_audio: bool = False
    retries: int = 0
    started: bool = False
    """Its ``TTSStartedFrame`` was pushed."""


_SETTABLE = frozenset(
    {
        "speaker",
        "pace",
        "pitch",
        "loudness",
        "temperature",
        "enable_preprocessing",
        "min_buffer_size",
        "max_chunk_length",
    }
)


class SarvamTTSService(FrameProcessor):
    """Sarvam streaming TTS (bulbul). Consumes ``LLMTextFrame`` (split into sentences here),
    other ``TextFrame``s (spoken as given, e.g. from a ``SentenceAggregator``) and
    ``TTSSpeakFrame``; emits ``TTSStartedFrame``, then per sentence its ``TTSAudioRawFrame``s
    (16-bit mono PCM at the pipeline's output rate) and its ``TTSTextFrame``, ``TTSStoppedFrame``
    after the last ``final``, then the held ``LLMFullResponseEndFrame``. Emits a TTFB metric
    (first text sent → first audio) when metrics are enabled, character usage when usage
    metrics are. Not thread-safe: use from the pipeline's event loop.

    ``sample_rate`` (default: the pipeline's output rate) is requested from Sarvam when it is
    one of 8000/16000/22050/24000; otherwise 24000 (or 22050 for multiples of 11025) is
    requested and resampled.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        model: str = "bulbul:v3",
        speaker: str | None = None,
        language: str = "en-IN",
        pace: float | None = None,
        pitch: float | None = None,
        loudness: float | None = None,
        temperature: float | None = None,
        enable_preprocessing: bool | None = None,
        min_buffer_size: int | None = None,
        max_chunk_length: int | None = None,
        sample_rate: int | None = None,
        language_key: Literal["target_language_code", "language_code"] = "target_language_code",
        max_sentence_chars: int = DEFAULT_MAX_SENTENCE_CHARS,
        ping_interval_s: float = 20.0,
        max_retries: int = 2,
        retry_base_delay_s: float = 0.5,
        end_timeout_s: float = 15.0,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if not 16 <= max_sentence_chars <= 2500:
            raise ConfigurationError(
                f"expected max_sentence_chars between 16 and 2500, got {max_sentence_chars}"
            )
        if sample_rate is not None and sample_rate <= 0:
            raise ConfigurationError(f"expected a positive sample_rate, got {sample_rate}")
        self._api_key = resolve_api_key(api_key)
        self._base_url = normalise_base_url(base_url)
        self._model = model
        self._url = f"{self._base_url}/text-to-speech/ws?" + urlencode(
            {"model": model, "send_completion_event": "true"}
        )
        config: dict[str, JSONValue] = {language_key: language, "output_audio_codec": "linear16"}
        if speaker is not None:
            config["speaker"] = speaker
        for key, value in (
            ("pace", pace),
            ("pitch", pitch),
            ("loudness", loudness),
            ("temperature", temperature),
            ("enable_preprocessing", enable_preprocessing),
            ("min_buffer_size", min_buffer_size),
            ("max_chunk_length", max_chunk_length),
        ):
            if value is not None:
                config[key] = value
        self._config = config
        self._language_key = language_key
        self._requested_rate = sample_rate
        self._sample_rate = 24000
        self._sarvam_rate = 24000
        self._resampler: Resampler | None = None
        self._max_sentence_chars = max_sentence_chars
        self._splitter = SentenceSplitter(max_chars=max_sentence_chars)
        self._ping_interval_s = ping_interval_s
        self._max_retries = max_retries
        self._retry_base_delay_s = retry_base_delay_s
        self._end_timeout_s = end_timeout_s

        self._ws: ClientConnection | None = None
        self._connecting: asyncio.Task[object] | None = None
        self._receiver: asyncio.Task[object] | None = None
        self._pinger: asyncio.Task[object] | None = None
        self._generation = 0
        self._utterance: _Utterance | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._carry = b""
        self._in_response = False
        self._fatal = False
        self._sending = False
        self._retry_pending = False
        self._last_message_at = 0.0
        self.connections_opened = 0
        """Sockets opened so far (a fresh one after each interruption); for tests and metrics."""

    @property
    def sample_rate(self) -> int:
        """Rate of the emitted audio, in Hz (known after the StartFrame)."""
        return self._sample_rate

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        rate = self._requested_rate or frame.audio_out_sample_rate
        self._sample_rate = rate
        if rate in SUPPORTED_SAMPLE_RATES:
            self._sarvam_rate = rate
        else:
            self._sarvam_rate = 22050 if rate % 11025 == 0 else 24000
            self._resampler = make_resampler(self._sarvam_rate, rate)
        self._config["speech_sample_rate"] = self._sarvam_rate
        self._preconnect()

    async def stop(self, frame: EndFrame) -> None:
        await super().stop(frame)
        # Let the last reply finish speaking before the socket goes.
        if self._utterance is not None:
            await wait_bounded(self._idle.wait(), self._end_timeout_s)
        await self._disconnect()

    async def cancel(self, frame: CancelFrame) -> None:
        await super().cancel(frame)
        await self._disconnect()

    async def _disconnect(self) -> None:
        self._generation += 1
        for task in (self._connecting, self._receiver, self._pinger):
            if task is not None:
                await self.cancel_task(task)
        self._connecting = self._receiver = self._pinger = None
        ws, self._ws = self._ws, None
        if ws is not None:
            await close_abandoned(ws)

    # -- frames --------------------------------------------------------------------------------

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InterruptionFrame):
            # From either side: an interruption raised downstream reaches us going upstream.
            await self._stop_synthesis()
            await self.push_frame(frame, direction)
        elif direction is not FrameDirection.DOWNSTREAM:
            await self.push_frame(frame, direction)
        elif isinstance(frame, TTSUpdateSettingsFrame):
            await self._update_settings(frame.settings)
            await self.push_frame(frame, direction)
        elif isinstance(frame, LLMFullResponseStartFrame):
            self._in_response = True
            self._splitter.reset()
            await self.push_frame(frame, direction)
        elif isinstance(frame, TextFrame) and frame.skip_tts:
            await self.push_frame(frame, direction)  # text-only turn: not for us to speak
        elif isinstance(frame, LLMTextFrame):
            for sentence in self._splitter.feed(frame.text):
                await self._speak(sentence)
        elif isinstance(frame, LLMFullResponseEndFrame):
            self._in_response = False
            for sentence in self._splitter.flush():
                await self._speak(sentence)
            await self._end_utterance(frame)
        elif isinstance(frame, TTSSpeakFrame):
            for sentence in split_sentences(frame.text, max_chars=self._max_sentence_chars):
                await self._speak(sentence)
            await self._end_utterance(None)
        elif isinstance(frame, TextFrame) and not isinstance(
            frame, TTSTextFrame | TranscriptionFrame | InterimTranscriptionFrame
        ):
            for sentence in split_sentences(frame.text, max_chars=self._max_sentence_chars):
                await self._speak(sentence)
            if not self._in_response:
                await self._end_utterance(None)
        else:
            await self.push_frame(frame, direction)

    async def _speak(self, sentence: str) -> None:
        text = clean_text_for_speech(sentence)
        if not text or self._fatal:
            return
        if self._utterance is not None and self._utterance.ended:
            # The previous reply is still being spoken: start this one after it, so their
            # Started/Stopped frames do not interleave. An interruption cancels this wait.
            await self._idle.wait()
        utterance = self._utterance
        loop = asyncio.get_running_loop()
        if utterance is None:
            utterance = _Utterance(context_id=uuid.uuid4().hex)
            self._utterance = utterance
            self._idle.clear()
        item = _Sentence(text)
        utterance.sentences.append(item)
        if not utterance.sent_at:
            utterance.sent_at = loop.time()
        # The text leaves first: the started frame's work downstream (the client's event, the
        # aggregators) then runs while the server synthesizes, not before it is asked to.
        await self._send_pending()
        if self._utterance is utterance:  # else interrupted or ended meanwhile
            await self._push_started(utterance)
        if self.usage_metrics_enabled:
            usage = TTSUsageMetricsData(
                processor=self.name, model=self._model, characters=len(text)
            )
            await self.push_frame(MetricsFrame(data=[usage]))

    async def _push_started(self, utterance: _Utterance) -> None:
        """``TTSStartedFrame`` once per utterance, before any of its audio."""
        if not utterance.started:
            utterance.started = True
            await self.push_frame(TTSStartedFrame(context_id=utterance.context_id))

    async def _send_pending(self) -> None:
        """Send, in order, every sentence of the utterance not yet sent on the current socket.

        Re-entrant calls (and calls during a retry's backoff) return at once; the running call
        picks up what they added, so sentences never overtake each other.
        """
        if self._sending or self._retry_pending:
            return
        self._sending = True
        try:
            while True:
                utterance = self._utterance
                if utterance is None:
                    return
                ws = await self._connection()
                if ws is None or self._utterance is not utterance:
                    return
                generation = self._generation
                item = next((i for i in utterance.sentences if i.sent_on != generation), None)
                if item is None:
                    return
                item.sent_on = generation
                self._last_message_at = asyncio.get_running_loop().time()
                payload = json.dumps(
                    {"type": "text", "data": {"text": item.text}}, ensure_ascii=False
                )
                try:
                    await ws.send(payload)
                    await ws.send(_FLUSH)
                except ConnectionClosed:
                    return  # the receiver sees the close and ends the utterance
        finally:
            self._sending = False

    async def _end_utterance(self, end_frame: Frame | None) -> None:
        utterance = self._utterance
        if utterance is None:
            if end_frame is not None:
                await self.push_frame(end_frame)
            return
        utterance.ended = True
        utterance.end_frame = end_frame
        if not utterance.sentences:
            await self._finish_utterance(utterance)
        else:
            self.create_task(self._watch_stall(utterance), name="sarvam-tts-watchdog")

    async def _watch_stall(self, utterance: _Utterance) -> None:
        """End ``utterance`` if Sarvam goes silent before its last ``final``, so the held
        end-of-response frame is not held forever."""
        loop = asyncio.get_running_loop()
        while self._utterance is utterance:
            quiet_s = loop.time() - self._last_message_at
            if quiet_s >= self._end_timeout_s:
                await self.push_error(
                    f"sarvam tts sent nothing for {self._end_timeout_s:.0f} s before the end of "
                    "a reply; ending it"
                )
                await self._drop_utterance()
                return
            await wait_bounded(self._idle.wait(), self._end_timeout_s - quiet_s)

    async def _finish_utterance(self, utterance: _Utterance) -> None:
        if self._utterance is not utterance:
            return
        self._utterance = None
        self._idle.set()
        await self._push_started(utterance)  # a Stopped never comes without its Started
        tail = self._carry_tail()
        if tail:
            await self.push_frame(
                TTSAudioRawFrame(
                    audio=tail, sample_rate=self._sample_rate, context_id=utterance.context_id
                )
            )
        await self.push_frame(TTSStoppedFrame(context_id=utterance.context_id))
        if utterance.end_frame is not None:
            await self.push_frame(utterance.end_frame)

    def _carry_tail(self) -> bytes:
        self._carry = b""  # half a sample at the very end cannot be played
        if self._resampler is not None:
            return self._resampler.flush()
        return b""

    async def _update_settings(self, settings: Mapping[str, JSONValue]) -> None:
        """``voice`` (the Sarvam ``speaker``), ``language`` and the other config fields, from
        the next sentence on: the reply being spoken finishes in the old voice, then the socket
        is reopened with the new config."""
        changed = False
        for key, value in settings.items():
            name = {"voice": "speaker", "language": self._language_key}.get(key, key)
            if name not in _SETTABLE and name != self._language_key:
                logger.warning("%s: ignoring the setting %r it does not know", self, key)
                continue
            if self._config.get(name) != value:
                self._config[name] = value
                changed = True
        if not changed:
            return
        for sentence in self._splitter.flush():
            await self._speak(sentence)
        if self._utterance is not None:
            if not self._in_response:
                await self._end_utterance(None)
            await self._idle.wait()
        self._abandon_socket()

    async def _stop_synthesis(self) -> None:
        self._retry_pending = False
        self._splitter.reset()
        self._in_response = False
        utterance, self._utterance = self._utterance, None
        self._idle.set()
        self._carry = b""
        if self._resampler is not None:
            self._resampler.flush()
        if utterance is None or not utterance.sentences:
            return  # nothing in flight: the socket is clean and stays
        self._abandon_socket()

    def _abandon_socket(self) -> None:
        """Drop the socket and open a fresh one (with the current config)."""
        # Bump the generation first, so nothing the old receiver might still do reaches the
        # pipeline, then cancel it and close the socket in the background.
        self._generation += 1
        for task in (self._receiver, self._pinger, self._connecting):
            if task is not None:
                task.cancel()
        self._receiver = self._pinger = self._connecting = None
        ws, self._ws = self._ws, None
        if ws is not None:
            self.create_task(close_abandoned(ws), name="sarvam-tts-close")
        self._preconnect()

    # -- connection ----------------------------------------------------------------------------

    def _preconnect(self) -> None:
        if self._connecting is None and self._ws is None and not self._fatal:
            self._connecting = self.create_task(self._open(), name="sarvam-tts-connect")

    async def _connection(self) -> ClientConnection | None:
        """The open socket, waiting for the one being opened, or opening one."""
        if self._ws is not None:
            return self._ws
        self._preconnect()
        task = self._connecting
        if task is not None:
            await asyncio.wait({task})
        return self._ws

    async def _open(self) -> None:
        generation = self._generation
        attempt = 0
        try:
            while True:
                try:
                    ws = await connect(
                        self._url,
                        additional_headers={AUTH_HEADER: self._api_key},
                        compression=None,
                        open_timeout=10,
                        max_size=None,
                    )
                except InvalidStatus as exc:
                    error: ServiceError = handshake_error(exc, _SERVICE)
                except (OSError, TimeoutError, WebSocketException) as exc:
                    error = ServiceConnectionError(f"sarvam tts could not connect: {exc!r}")
                else:
                    if generation != self._generation:
                        self.create_task(close_abandoned(ws), name="sarvam-tts-close")
                        return
                    await ws.send(json.dumps({"type": "config", "data": self._config}))
                    self._ws = ws
                    self.connections_opened += 1
                    self._receiver = self.create_task(
                        self._receive(ws, generation), name="sarvam-tts-recv"
                    )
                    if self._ping_interval_s > 0:
                        self._pinger = self.create_task(self._ping(ws), name="sarvam-tts-ping")
                    return
                if not error.retryable or attempt >= self._max_retries:
                    self._fatal = self._fatal or not error.retryable
                    await self.push_error(str(error), exception=error, fatal=not error.retryable)
                    await self._drop_utterance()
                    return
                attempt += 1
                await asyncio.sleep(
                    backoff_delay(
                        attempt - 1, self._retry_base_delay_s, self._retry_base_delay_s * 8
                    )
                )
        finally:
            if self._connecting is asyncio.current_task():
                self._connecting = None

    async def _drop_utterance(self) -> None:
        """End the current utterance early (its audio will not come)."""
        utterance = self._utterance
        if utterance is not None:
            utterance.sentences.clear()
            utterance.ended = True
            await self._finish_utterance(utterance)

    async def _ping(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self._ping_interval_s)
            try:
                await ws.send(_PING)
            except ConnectionClosed:
                return

    async def _receive(self, ws: ClientConnection, generation: int) -> None:
        try:
            async for raw in ws:
                if generation != self._generation:
                    return
                self._last_message_at = asyncio.get_running_loop().time()
                await self._on_message(raw, generation)
        except ConnectionClosed:
            pass
        if generation != self._generation:
            return
        # The server closed the socket (idle, internal error, dropped stream).
        rcvd = ws.protocol.close_rcvd
        code = rcvd.code if rcvd is not None else 1006
        self._ws = None
        if self._pinger is not None:
            self._pinger.cancel()
            self._pinger = None
        self._receiver = None
        utterance = self._utterance
        if utterance is not None and utterance.sentences:
            await self.push_error(
                f"sarvam tts connection closed mid-utterance (close code {code}); "
                "the rest of this reply is lost, the next one opens a new socket"
            )
            await self._drop_utterance()
        else:
            logger.info("sarvam tts: socket closed (code %d) while idle", code)

    async def _on_message(self, raw: str | bytes, generation: int) -> None:
        event = parse_tts_message(raw)
        if isinstance(event, AudioChunk):
            await self._on_audio(event.pcm)
        elif isinstance(event, Final):
            await self._on_final()
        elif isinstance(event, ServerError):
            await self._on_error(event, generation)
        else:
            logger.warning("sarvam tts: skipping %s", event.reason)

    async def _on_audio(self, pcm: bytes) -> None:
        utterance = self._utterance
        if utterance is None or not utterance.sentences:
            logger.debug("sarvam tts: dropping %d bytes of audio for no utterance", len(pcm))
            return
        await self._push_started(utterance)  # had the audio overtaken _speak (see there)
        sentence = utterance.sentences[0]
        if not sentence.spoken:
            sentence.spoken = True
            pcm = strip_riff(pcm)
        ttfb: float | None = None
        first = not utterance.got_audio
        if first:
            utterance.got_audio = True
            if self.metrics_enabled:
                ttfb = asyncio.get_running_loop().time() - utterance.sent_at
        if self._carry:
            pcm = self._carry + pcm
            self._carry = b""
        if len(pcm) % 2:
            # A sample split across two messages: keep its first byte for the next one.
            self._carry = pcm[-1:]
            pcm = pcm[:-1]
        if self._resampler is not None:
            pcm = self._resampler.resample(pcm)
        if pcm:
            await self.push_frame(
                TTSAudioRawFrame(
                    audio=pcm, sample_rate=self._sample_rate, context_id=utterance.context_id
                )
            )
        if first:
            # Sarvam sends audio faster than real time, so a reply's first audio often arrives
            # with the next several messages in one read, and the socket hands them over
            # without suspending. Yield once: the output writes the first audio to the caller
            # before the rest is decoded (0.3-0.4 ms sooner for a burst of ten).
            await asyncio.sleep(0)
        if ttfb is not None:
            # After the audio: the first audio is what the caller waits for.
            metric = TTFBMetricsData(processor=self.name, model=self._model, value=ttfb)
            await self.push_frame(MetricsFrame(data=[metric]))

    async def _on_final(self) -> None:
        utterance = self._utterance
        if utterance is None or not utterance.sentences:
            return
        sentence = utterance.sentences.popleft()
        if sentence.spoken:
            # After its audio, as every vani TTS does: a sentence cut short is not "heard".
            await self.push_frame(TTSTextFrame(text=sentence.text, context_id=utterance.context_id))
        if utterance.ended and not utterance.sentences:
            await self._finish_utterance(utterance)

    async def _on_error(self, error: ServerError, generation: int) -> None:
        utterance = self._utterance
        retryable = is_retryable(error)
        text = error.describe(_SERVICE)
        if utterance is None or not utterance.sentences:
            await self.push_error(text)
            return
        if retryable and utterance.retries < self._max_retries:
            utterance.retries += 1
            logger.warning("%s; retrying the unspoken sentences (%d)", text, utterance.retries)
            await self._retry(utterance, generation)
            return
        await self.push_error(text if retryable else f"{text} (not retryable)")
        # Sarvam sends no final after an error: whatever of the reply was left is dropped.
        await self._drop_utterance()

    async def _retry(self, utterance: _Utterance, generation: int) -> None:
        """Send the sentences not yet heard again, on a fresh socket after a backoff."""
        pending = [s for s in utterance.sentences if not s.spoken]
        utterance.sentences = deque(pending)
        self._generation += 1
        old, self._ws = self._ws, None
        if self._pinger is not None:
            self._pinger.cancel()
            self._pinger = None
        self._receiver = None  # this task: it ends when this call returns
        if old is not None:
            self.create_task(close_abandoned(old), name="sarvam-tts-close")
        self._retry_pending = True
        try:
            await asyncio.sleep(
                backoff_delay(
                    utterance.retries - 1, self._retry_base_delay_s, self._retry_base_delay_s * 8
                )
            )
        finally:
            self._retry_pending = False
        if self._utterance is not utterance:
            return  # interrupted meanwhile
        if pending:
            await self._send_pending()
        elif utterance.ended:
            await self._finish_utterance(utterance)
