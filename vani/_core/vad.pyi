import enum

import numpy as np
import numpy.typing as npt
from typing_extensions import Buffer

QUIET: int
STARTING: int
SPEAKING: int
STOPPING: int

class VADState(enum.IntEnum):
    QUIET = 0
    STARTING = 1
    SPEAKING = 2
    STOPPING = 3

class VADEvent:
    """One state transition; ``timestamp`` is the edge in seconds of stream audio."""

    previous: int
    state: int
    edge_sample: int
    decided_sample: int
    sample_rate: int
    def __init__(
        self, previous: int, state: int, edge_sample: int, decided_sample: int, sample_rate: int
    ) -> None: ...
    @property
    def timestamp(self) -> float: ...
    @property
    def decided_secs(self) -> float: ...
    @property
    def started(self) -> bool: ...
    @property
    def stopped(self) -> bool: ...
    def astuple(self) -> tuple[int, int, int, int]: ...

class VADWindower:
    """Cuts int16 PCM into Silero windows written straight into float32 batch rows."""

    sample_rate: int
    window_size: int
    context_size: int
    row_size: int
    windows_taken: int
    def __init__(self, sample_rate: int) -> None: ...
    def feed(self, pcm: Buffer) -> int: ...
    @property
    def pending(self) -> int: ...
    @property
    def buffered_samples(self) -> int: ...
    def take(self, batch: npt.NDArray[np.float32], row: int) -> float: ...
    def flush(self) -> int: ...
    def reset(self) -> None: ...

class VADStateMachine:
    """QUIET → STARTING → SPEAKING → STOPPING, one step per window; returns every transition."""

    sample_rate: int
    window_size: int
    confidence: float
    min_volume: float
    smoothing: float
    start_windows: int
    stop_windows: int
    state: int
    windows: int
    smoothed_volume: float
    def __init__(
        self,
        sample_rate: int,
        confidence: float,
        start_secs: float,
        stop_secs: float,
        min_volume: float,
        smoothing: float = 0.2,
    ) -> None: ...
    def push(self, prob: float, volume: float) -> list[VADEvent]: ...
    def feed(
        self, probs: npt.NDArray[np.float32], volumes: npt.NDArray[np.float32]
    ) -> list[VADEvent]: ...
    def flush(self) -> list[VADEvent]: ...
    def reset(self) -> None: ...
