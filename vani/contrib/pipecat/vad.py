"""Pipecat's ``SileroVADAnalyzer`` on vani's compiled, batched Silero.

Pipecat's analyzer runs one ONNX model per analyzer and hops to a thread for every audio buffer;
this one feeds vani's windower and awaits the process's shared batcher on the event loop, so the
windows of every call in the process go through one inference. Same constructor, same
``VADParams``, same ``VADState`` values. Guide: docs/embedding.md.
"""

from __future__ import annotations

from collections import deque

from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams, VADState

from vani.audio.silero import SUPPORTED_RATES, SileroStream, get_batcher
from vani.audio.vad_params import VADParams as VaniVADParams
from vani.errors import ConfigurationError

__all__ = ["SileroVADAnalyzer"]

# vani's own state machine runs beside Pipecat's, unused: its thresholds hardly matter.
_RESET_SECS = 2.0
_RESET_MAX_CONFIDENCE = 0.1
_RESET_LOW_WINDOWS = 5
_GATE_OPEN = VaniVADParams(confidence=0.5, start_secs=0.0, stop_secs=0.0, min_volume=0.0)


class SileroVADAnalyzer(VADAnalyzer):  # type: ignore[misc]
    """A Pipecat ``VADAnalyzer`` whose Silero windows run in vani's per-process batches.

    Takes Pipecat's arguments (``sample_rate``, ``params``: Pipecat's ``VADParams``); 8000 or
    16000 Hz as Pipecat's. One analyzer per audio stream, as in Pipecat. Only the model runs in
    vani: the loudness gate and the state machine stay Pipecat's own, so states and their timing
    follow Pipecat's rules exactly.
    """

    def __init__(self, *, sample_rate: int | None = None, params: VADParams | None = None) -> None:
        super().__init__(sample_rate=sample_rate, params=params)
        self._stream: SileroStream | None = None
        self._scored: deque[float] = deque()
        self._since_reset = 0
        self._low_windows = 0

    def num_frames_required(self) -> int:
        """Samples per Silero window: 512 at 16 kHz, 256 at 8 kHz."""
        return 512 if self.sample_rate == 16000 else 256

    def set_sample_rate(self, sample_rate: int) -> None:
        """The stream's rate (the constructor's ``sample_rate`` wins when given)."""
        rate = self._init_sample_rate or sample_rate
        if rate not in SUPPORTED_RATES:
            raise ConfigurationError(
                f"expected a silero vad sample rate of 8000 or 16000 Hz, got {rate}"
            )
        super().set_sample_rate(sample_rate)
        if self._stream is None or self._stream.sample_rate != rate:
            self._stream = SileroStream(rate, _GATE_OPEN, keep_probabilities=True)
            self._scored.clear()

    def _require(self) -> SileroStream:
        if self._stream is None:
            raise ConfigurationError("expected set_sample_rate() before analyzing audio")
        return self._stream

    def _take_scores(self, stream: SileroStream) -> None:
        probabilities = stream.probabilities
        if probabilities:
            self._scored.extend(probabilities)
            probabilities.clear()
        stream.take_events()

    def voice_confidence(self, buffer: bytes) -> float:
        """Speech probability of the window ``buffer``: the batch's score when
        :meth:`analyze_audio` already ran it, else one unbatched inference here."""
        stream = self._require()
        if not self._scored:
            stream.feed(buffer)
            stream.analyze_now()
            self._take_scores(stream)
        confidence = self._scored.popleft() if self._scored else 0.0
        self._maybe_reset_model(stream, confidence)
        return confidence

    def _maybe_reset_model(self, stream: SileroStream, confidence: float) -> None:
        # Pipecat's rule: once 2 s of audio went by since the last reset, the next time the
        # VAD is quiet after 5 windows in a row scored under 0.1, zero the model's recurrent
        # state (it drifts over long non-speech). Same rule here, so the same audio gives the
        # same states over a long call.
        self._since_reset += 1
        self._low_windows = self._low_windows + 1 if confidence < _RESET_MAX_CONFIDENCE else 0
        if (
            self._since_reset * self.num_frames_required() >= _RESET_SECS * self.sample_rate
            and self._vad_state == VADState.QUIET
            and self._low_windows >= _RESET_LOW_WINDOWS
        ):
            stream.reset_model_state()
            self._since_reset = 0

    async def analyze_audio(self, buffer: bytes) -> VADState:
        """Add 16-bit mono PCM; score the windows it completes in the shared batch; return the
        state after the last one."""
        stream = self._require()
        if stream.feed(buffer):
            # No timeout around this await: Pipecat may run it inline in a processor.
            await get_batcher(stream.sample_rate).analyze(stream)
        self._take_scores(stream)
        # Pipecat's own windowing, loudness and state machine, on the scores just computed
        # (its ``voice_confidence`` calls take them in order).
        state: VADState = self._run_analyzer(buffer)
        return state

    async def cleanup(self) -> None:
        """Leave the shared batcher (a pending analysis is cancelled)."""
        if self._stream is not None:
            get_batcher(self._stream.sample_rate).discard(self._stream)
        await super().cleanup()
