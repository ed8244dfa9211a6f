"""VAD thresholds (see :class:`VADParams`)."""

from __future__ import annotations

from dataclasses import dataclass

from vani.errors import ConfigurationError

__all__ = ["VADParams"]


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
