"""``VADProcessor``: Silero VAD as a pipeline step, batched across every session in the process."""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar, Protocol

from vani._core.vad import SPEAKING, STARTING, VADEvent
from vani.audio.resample import StreamResampler
from vani.audio.silero import SileroBatcher, SileroStream, get_batcher
from vani.audio.turn import EndOfTurnState, SmartTurnAnalyzer, TurnMetricsData
from vani.audio.vad_params import VADParams
from vani.errors import ConfigurationError
from vani.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    FrameDirection,
    InputAudioRawFrame,
    StartFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from vani.processors import FrameProcessor

__all__ = ["RESAMPLED_RATES", "TURN_VAD_STOP_SECS", "VADProcessor"]

logger = logging.getLogger(__name__)

#: Input rates other than 8 and 16 kHz that are resampled to 16 kHz for the model.
RESAMPLED_RATES = (22050, 24000, 32000, 44100, 48000)

#: The VAD's stop with a turn model: a short pause, after which the model decides.
TURN_VAD_STOP_SECS = 0.2


class _HasVADParams(Protocol):
    @property
    def params(self) -> VADParams: ...


class VADProcessor(FrameProcessor):
    """Detects the user's speech in ``InputAudioRawFrame``s and announces its edges.

    Every input audio frame is passed on at once, unchanged. When the VAD decides that speech
    started it pushes, downstream, ``VADUserStartedSpeakingFrame`` (``timestamp``: seconds of
    stream audio at the first speech window; ``start_secs``: the parameter) then
    ``UserStartedSpeakingFrame``, and interrupts the pipeline (``broadcast_interruption``) when
    interruptions are allowed; when speech stopped, ``VADUserStoppedSpeakingFrame`` then
    ``UserStoppedSpeakingFrame``. Events come ``start_secs`` / ``stop_secs`` after their edge.

    ``sample_rate`` is the rate the audio arrives at (default: the pipeline's
    ``audio_in_sample_rate``). The model runs at 8 kHz for 8 kHz input and at 16 kHz otherwise;
    each frame is analysed at its own ``sample_rate``, resampled to the model rate when needed
    (from 22.05, 24, 32, 44.1 or 48 kHz). Malformed frames (odd byte count, more than one
    channel, another rate) are passed on and reported upstream as a non-fatal ErrorFrame, once
    per kind of problem, and the session carries on.

    Inference is shared: the windows of every VADProcessor (and VADAnalyzer) on the event loop
    are batched into shared model runs, so a session costs kilobytes. ``vad_analyzer`` is
    accepted for Pipecat's spelling, ``VADProcessor(vad_analyzer=SileroVADAnalyzer(params=...))``:
    only its ``params`` are used.

    With a ``turn_analyzer`` (:class:`~vani.audio.turn.SmartTurnAnalyzer`) the VAD's stop no
    longer ends the user's turn by itself (docs/turn-taking.md). The VAD stops after a short
    pause (``stop_secs`` 0.2 s unless ``params`` say otherwise) and the end-of-turn model is
    asked: "complete" ends the turn at once (``UserStoppedSpeakingFrame``); "incomplete" keeps it
    open, and the model is asked again at the user's next pause, until the silence reaches the
    analyzer's cap (``SmartTurnParams.stop_secs``, 3 s), which ends the turn whatever the model
    said. Within one turn the VAD frames come at every pause and resumption, but
    ``UserStartedSpeakingFrame`` (and the barge-in) only once. ``last_turn_metrics`` holds the
    model's last answer. The question runs in a task while audio passes on (a stale question,
    when the user speaks again first, is withdrawn); ``turn_inline=True`` waits for the answer
    before passing more audio instead, which makes the outcome independent of timing (offline
    evaluation, tests). ``interrupt=False`` leaves the barge-in to an
    :class:`~vani.processors.interruptions.InterruptionGate` after the STT.

    ``max_backlog_secs`` (default None: off) bounds the audio that may wait behind the model
    when the process cannot keep up (a live server past its capacity): while more than that
    much audio is queued for this processor, frames are passed on without analysis, so the
    backlog drains instead of growing with every second of overload (``skipped_secs`` counts
    the audio skipped; a warning is logged when skipping starts). Leave it off for input that
    arrives faster than real time (files, tests, offline evaluation).
    """

    # A frame that completes no model window is handled without waiting: it need not wake
    # this processor's task (only one that waits for the model moves there).
    inline_frame_types: ClassVar[tuple[type[Frame], ...]] = (InputAudioRawFrame,)

    def __init__(
        self,
        *,
        params: VADParams | None = None,
        sample_rate: int | None = None,
        vad_analyzer: _HasVADParams | None = None,
        turn_analyzer: SmartTurnAnalyzer | None = None,
        turn_inline: bool = False,
        interrupt: bool = True,
        max_backlog_secs: float | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        if params is None and vad_analyzer is not None:
            params = vad_analyzer.params
        if params is None and turn_analyzer is not None:
            params = VADParams(stop_secs=TURN_VAD_STOP_SECS)
        if sample_rate is not None and sample_rate not in (8000, 16000, *RESAMPLED_RATES):
            raise ConfigurationError(
                f"expected an input sample rate among 8000, 16000, 22050, 24000, 32000, 44100"
                f" and 48000 Hz, got {sample_rate}"
            )
        if max_backlog_secs is not None and not max_backlog_secs > 0:
            raise ConfigurationError(
                f"expected max_backlog_secs > 0 or None, got {max_backlog_secs}"
            )
        self.params = params or VADParams()
        self.max_backlog_secs = max_backlog_secs
        self.skipped_secs = 0.0
        self._skipping = False
        self._input_rate = sample_rate
        self._stream: SileroStream | None = None
        self._batcher: SileroBatcher | None = None
        self._resamplers: dict[int, StreamResampler] = {}
        self._reported: set[str] = set()
        self.turn_analyzer = turn_analyzer
        self.last_turn_metrics: TurnMetricsData | None = None
        self._user_turn = False
        self._turn_inline = turn_inline
        self._barge_in = interrupt
        self._turn_task: asyncio.Task[object] | None = None

    @property
    def vad_sample_rate(self) -> int | None:
        """The rate the model runs at (8000 or 16000), known once the pipeline started."""
        return self._stream.sample_rate if self._stream is not None else None

    async def start(self, frame: StartFrame) -> None:
        rate = self._input_rate or frame.audio_in_sample_rate
        vad_rate = 8000 if rate == 8000 else 16000
        self._stream = SileroStream(vad_rate, self.params)
        self._batcher = get_batcher(vad_rate)
        self._user_turn = False
        if self.turn_analyzer is not None:
            self.turn_analyzer.set_sample_rate(vad_rate)
            self.turn_analyzer.update_vad_start_secs(self.params.start_secs)

    async def stop(self, frame: EndFrame) -> None:
        self._release()

    async def cancel(self, frame: CancelFrame) -> None:
        self._release()

    def _release(self) -> None:
        self._withdraw_question()
        if self._batcher is not None and self._stream is not None:
            self._batcher.discard(self._stream)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if (
            isinstance(frame, InputAudioRawFrame)
            and direction is FrameDirection.DOWNSTREAM
            and self._stream is not None
        ):
            stream = self._stream
            if self.max_backlog_secs is not None and self._overloaded(frame):
                return
            pcm = await self._model_pcm(frame, stream.sample_rate)
            if not pcm:
                return
            events: list[VADEvent] = []
            if stream.feed(pcm):
                assert self._batcher is not None
                events = await self._batcher.analyze(stream)
            turn = self.turn_analyzer
            if turn is not None:
                speaking = stream.machine.state in (STARTING, SPEAKING)
                capped = turn.append_audio(pcm, speaking) is EndOfTurnState.COMPLETE
                for event in events:
                    await self._announce(event)
                if capped and self._user_turn:
                    await self._end_turn()
            else:
                for event in events:
                    await self._announce(event)

    def _overloaded(self, frame: InputAudioRawFrame) -> bool:
        """True when more than ``max_backlog_secs`` of audio waits behind this frame."""
        assert self.max_backlog_secs is not None
        secs = frame.num_frames / frame.sample_rate if frame.sample_rate > 0 else 0.0
        queued = len(self._queue) if self._queue is not None else 0
        if queued * secs <= self.max_backlog_secs:
            self._skipping = False
            return False
        if not self._skipping:
            self._skipping = True
            logger.warning(
                "%s: %.1f s of input audio queued behind the vad (max_backlog_secs %.1f):"
                " skipping analysis until it drains",
                self,
                queued * secs,
                self.max_backlog_secs,
            )
        self.skipped_secs += secs
        return True

    async def _model_pcm(self, frame: InputAudioRawFrame, vad_rate: int) -> bytes | None:
        audio, rate, channels = frame.audio, frame.sample_rate, frame.num_channels
        if channels != 1:
            await self._report_problem(
                "channels", f"expected mono input audio for the vad, got {channels} channels"
            )
            return None
        if len(audio) % 2:
            await self._report_problem(
                "odd",
                f"expected whole 16-bit samples (an even byte count), got {len(audio)} bytes",
            )
            return None
        if rate == vad_rate:
            return audio
        if rate not in RESAMPLED_RATES and rate not in (8000, 16000):
            await self._report_problem(
                f"rate-{rate}",
                f"expected input audio at 8000, 16000, 22050, 24000, 32000, 44100 or 48000 Hz,"
                f" got {rate}",
            )
            return None
        resampler = self._resamplers.get(rate)
        if resampler is None:
            resampler = self._resamplers[rate] = StreamResampler(rate, vad_rate)
        return resampler.resample(audio)

    async def _report_problem(self, kind: str, message: str) -> None:
        # Once per kind of problem: a misconfigured source sends 50 bad frames a second.
        if kind in self._reported:
            logger.debug("%s: %s", self, message)
            return
        self._reported.add(kind)
        logger.warning("%s: %s", self, message)
        await self.push_error(message)

    async def _announce(self, event: VADEvent) -> None:
        if event.started:
            await self.push_frame(
                VADUserStartedSpeakingFrame(
                    start_secs=self.params.start_secs, timestamp=event.timestamp
                )
            )
            self._withdraw_question()
            if self._user_turn:
                return  # the user went on after a pause inside the turn
            self._user_turn = True
            await self.push_frame(UserStartedSpeakingFrame())
            if self._barge_in and self.interruptions_allowed:
                await self.broadcast_interruption()
        elif event.stopped:
            await self.push_frame(
                VADUserStoppedSpeakingFrame(
                    stop_secs=self.params.stop_secs, timestamp=event.timestamp
                )
            )
            turn = self.turn_analyzer
            if turn is None:
                self._user_turn = False
                await self.push_frame(UserStoppedSpeakingFrame())
                return
            if self._turn_inline:
                await self._ask(turn)
            else:
                self._withdraw_question()
                self._turn_task = self.create_task(self._ask(turn), "end-of-turn")

    async def _ask(self, turn: SmartTurnAnalyzer) -> None:
        state, metrics = await turn.analyze_end_of_turn()
        if metrics is not None:
            self.last_turn_metrics = metrics
        if state is EndOfTurnState.COMPLETE and self._user_turn:
            await self._end_turn()

    def _withdraw_question(self) -> None:
        # The user spoke again (or the call ended): a question still queued costs nothing.
        task, self._turn_task = self._turn_task, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()

    async def _end_turn(self) -> None:
        if asyncio.current_task() is not self._turn_task:
            self._withdraw_question()
        self._turn_task = None
        self._user_turn = False
        if self.turn_analyzer is not None:
            self.turn_analyzer.clear()
        await self.push_frame(UserStoppedSpeakingFrame())
