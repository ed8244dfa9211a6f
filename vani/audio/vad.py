"""Voice activity detection with Silero: parameters, a direct-use analyzer, and the processor.

One Silero model serves the whole process and the windows of all streams are batched into shared
inferences (see :mod:`vani.audio.silero`); each stream costs a few kilobytes.

* :class:`VADParams` — thresholds, with defaults chosen for a voice agent without a separate
  turn detector.
* :class:`VADAnalyzer` — for direct use outside a pipeline: feed PCM, get
  :class:`~vani._core.vad.VADEvent` transitions back.
* ``VADProcessor`` (:mod:`vani.audio.vad_processor`) — the pipeline processor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vani._core.vad import VADEvent, VADState
from vani.audio.silero import SUPPORTED_RATES, SileroStream, get_batcher
from vani.errors import ConfigurationError

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = ["VADAnalyzer", "VADEvent", "VADParams", "VADState"]


@dataclass(frozen=True, slots=True)
class VADParams:
    """Thresholds of the speech state machine. Names and scales match Pipecat's.

    confidence:
        Silero speech probability (0..1) at or above which a window counts as speech. 0.7
        rather than Silero's own 0.5: breaths, clicks and far-away voices often score 0.5–0.7,
        clear speech close to the microphone scores above 0.9.
    start_secs:
        Consecutive speech needed before the user is said to speak (0.2 s, six 32 ms windows):
        long enough to ignore a cough or a click, short enough that barge-in feels immediate.
        The start event is timestamped at the first speech window, not at the decision.
    stop_secs:
        Consecutive non-speech needed before the user is said to have stopped (0.8 s): pauses
        inside a sentence last up to about half a second, and without a turn-detection model
        after the VAD, a shorter value cuts users off mid-sentence. Lower it (Pipecat uses 0.2)
        when a turn detector decides the end of the turn instead.
    min_volume:
        Smoothed loudness (0..1, see below) under which nothing counts as speech (0.6, about
        -50 dBFS RMS): rejects faint background speech while any voice at microphone level
        passes. The scale maps RMS dBFS linearly, -110 dBFS → 0 and -10 dBFS → 1, which is
        Pipecat's scale (it normalises loudness of int16 samples from -20..80), so values carry
        over. The loudness rises at once and decays by a fifth of the gap per window.
    """

    confidence: float = 0.7
    start_secs: float = 0.2
    stop_secs: float = 0.8
    min_volume: float = 0.6

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ConfigurationError(f"expected confidence in [0, 1], got {self.confidence}")
        if not 0.0 <= self.min_volume <= 1.0:
            raise ConfigurationError(f"expected min_volume in [0, 1], got {self.min_volume}")
        if self.start_secs < 0:
            raise ConfigurationError(f"expected start_secs >= 0, got {self.start_secs}")
        if self.stop_secs < 0:
            raise ConfigurationError(f"expected stop_secs >= 0, got {self.stop_secs}")


class VADAnalyzer:
    """Silero VAD over one stream of 16-bit mono PCM at 8 or 16 kHz, for use without a pipeline.

    ``await analyze(pcm)`` runs the stream's ready windows through the shared, batched model (off
    the event loop) and returns every transition they caused; ``analyze_sync(pcm)`` does the same
    on the calling thread, one inference per window. PCM may be split anywhere, even inside a
    sample. Events carry the stream time of their edge (``timestamp``, seconds since the first
    byte). Not safe for concurrent calls on one analyzer; use one analyzer per stream.
    """

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        params: VADParams | None = None,
        keep_probabilities: bool = False,
    ) -> None:
        if sample_rate not in SUPPORTED_RATES:
            raise ConfigurationError(
                f"expected a vad sample rate of 8000 or 16000 Hz, got {sample_rate}"
            )
        self.params = params or VADParams()
        self.sample_rate = sample_rate
        self._stream = SileroStream(sample_rate, self.params, keep_probabilities=keep_probabilities)

    @property
    def state(self) -> VADState:
        """The state after the last analyzed window."""
        return VADState(self._stream.machine.state)

    @property
    def probabilities(self) -> list[float] | None:
        """Each window's speech probability, when built with ``keep_probabilities``."""
        return self._stream.probabilities

    async def analyze(self, pcm: Buffer) -> list[VADEvent]:
        """Add PCM; analyze the windows it completes in a shared batch; return the transitions."""
        if not self._stream.feed(pcm):
            return []
        return await get_batcher(self.sample_rate).analyze(self._stream)

    def analyze_sync(self, pcm: Buffer) -> list[VADEvent]:
        """Add PCM; analyze the windows it completes here, unbatched; return the transitions."""
        self._stream.feed(pcm)
        return self._stream.analyze_now()

    async def flush(self) -> list[VADEvent]:
        """End of stream: analyze the zero-padded tail and close any open turn."""
        events: list[VADEvent] = []
        if self._stream.windower.flush():
            events += await get_batcher(self.sample_rate).analyze(self._stream)
        return events + self._stream.machine.flush()

    def flush_sync(self) -> list[VADEvent]:
        """End of stream, unbatched: as :meth:`flush` on the calling thread."""
        return self._stream.flush_now()

    def reset(self) -> None:
        """Start over at time zero (a new call on the same analyzer)."""
        self._stream.reset()
