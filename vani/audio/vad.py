"""Voice activity detection with Silero: parameters, a direct-use analyzer, and the processor.

One Silero model serves the whole process and the windows of all streams are batched into shared
inferences (see :mod:`vani.audio.silero`); each stream costs a few kilobytes.

* :class:`VADParams` — thresholds, with defaults chosen for a voice agent without a separate
  turn detector.
* :class:`VADAnalyzer` — for direct use outside a pipeline: feed PCM, get
  :class:`~vani._core.vad.VADEvent` transitions back.
* :class:`VADProcessor` — the pipeline processor (in :mod:`vani.audio.vad_processor`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vani._core.vad import VADEvent, VADState
from vani.audio.silero import SUPPORTED_RATES, SileroStream, get_batcher
from vani.audio.vad_params import VADParams
from vani.audio.vad_processor import VADProcessor
from vani.errors import ConfigurationError

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = [
    "SileroVADAnalyzer",
    "VADAnalyzer",
    "VADEvent",
    "VADParams",
    "VADProcessor",
    "VADState",
]


class VADAnalyzer:
    """Silero VAD over one stream of 16-bit mono PCM at 8 or 16 kHz, for use without a pipeline.

    ``await analyze(pcm)`` runs the stream's ready windows through the shared model, batched
    with those of every other stream on the loop, and returns every transition they caused;
    ``analyze_sync(pcm)`` does the same at once, one inference per window. PCM may be split
    anywhere, even inside a sample. Events carry the stream time of their edge (``timestamp``,
    seconds since the first byte). Not safe for concurrent calls on one analyzer; use one
    analyzer per stream.
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


#: Pipecat's name for the same analyzer (there, one model per analyzer; here, one per process).
SileroVADAnalyzer = VADAnalyzer
