"""Pipecat's ``LocalSmartTurnAnalyzerV3`` on vani's shared, batched end-of-turn model.

The same smart-turn v3.2 model Pipecat bundles, loaded once per process (Pipecat loads one per
analyzer) and run for every analyzer of the event loop by one batcher on one worker thread.
Takes Pipecat's ``SmartTurnParams`` and decides as Pipecat does: probability ≥ 0.5 is a complete
turn, the model hears the silence after speech, ``stop_secs`` caps the wait. Guide:
docs/embedding.md.
"""

from __future__ import annotations

from pipecat.audio.turn.base_turn_analyzer import BaseTurnAnalyzer, EndOfTurnState
from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
from pipecat.metrics.metrics import TurnMetricsData

from vani.audio.turn import EndOfTurnState as VaniState
from vani.audio.turn import SmartTurnAnalyzer
from vani.audio.turn import SmartTurnParams as VaniParams

__all__ = ["LocalSmartTurnAnalyzerV3"]

#: Pipecat's decision threshold (its model output is "complete" at probability > 0.5).
PIPECAT_THRESHOLD = 0.5


def _state(state: VaniState) -> EndOfTurnState:
    return EndOfTurnState.COMPLETE if state is VaniState.COMPLETE else EndOfTurnState.INCOMPLETE


class LocalSmartTurnAnalyzerV3(BaseTurnAnalyzer):  # type: ignore[misc]
    """A Pipecat ``BaseTurnAnalyzer`` on the process's shared smart-turn model.

    ``smart_turn_model_path`` and ``cpu_count`` choose the model file and the inference threads
    of that one shared model (:func:`vani.audio.turn.configure_smart_turn`): every analyzer in
    the process must name the same ones, and another value once the model is loaded raises
    :class:`~vani.errors.ConfigurationError`.
    """

    def __init__(
        self,
        *,
        smart_turn_model_path: str | None = None,
        cpu_count: int | None = None,
        sample_rate: int | None = None,
        params: SmartTurnParams | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(sample_rate=sample_rate)
        self._params = params or SmartTurnParams()
        p = self._params
        self._inner = SmartTurnAnalyzer(
            params=VaniParams(
                stop_secs=p.stop_secs,
                pre_speech_ms=p.pre_speech_ms,
                max_duration_secs=p.max_duration_secs,
                threshold=PIPECAT_THRESHOLD,
                trailing_secs=None,
            ),
            smart_turn_model_path=smart_turn_model_path,
            cpu_count=cpu_count,
        )

    @property
    def params(self) -> SmartTurnParams:
        """Pipecat's parameters, as given."""
        return self._params

    @property
    def speech_triggered(self) -> bool:
        """Whether speech was heard since the turn was last cleared."""
        return self._inner.speech_triggered

    def set_sample_rate(self, sample_rate: int) -> None:
        """The rate of the PCM given to :meth:`append_audio` (the constructor's wins)."""
        super().set_sample_rate(sample_rate)
        self._inner.set_sample_rate(self.sample_rate)

    def update_vad_start_secs(self, vad_start_secs: float) -> None:
        """The VAD's ``start_secs``: that much more audio is kept before the speech start."""
        self._inner.update_vad_start_secs(vad_start_secs)

    def append_audio(self, buffer: bytes, is_speech: bool) -> EndOfTurnState:
        """Add one chunk; ``COMPLETE`` once ``stop_secs`` of silence followed speech."""
        return _state(self._inner.append_audio(buffer, is_speech))

    async def analyze_end_of_turn(self) -> tuple[EndOfTurnState, TurnMetricsData | None]:
        """Ask the shared model whether the turn so far is complete."""
        # No timeout around this await: Pipecat may run it inline in a processor.
        state, metrics = await self._inner.analyze_end_of_turn()
        if metrics is None:
            return _state(state), None
        return _state(state), TurnMetricsData(
            processor="LocalSmartTurnAnalyzerV3",
            is_complete=metrics.is_complete,
            probability=metrics.probability,
            e2e_processing_time_ms=metrics.e2e_processing_time_ms,
        )

    def clear(self) -> None:
        """Forget the turn."""
        self._inner.clear()
