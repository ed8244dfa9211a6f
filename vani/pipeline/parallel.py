"""ParallelPipeline: every frame goes through each branch; what leaves, leaves once.

A frame that passes through several branches leaves the parallel pipeline the first time it
comes out of one. Start, End, Cancel and Stop frames leave once, after *every* branch passed
them, so nothing downstream starts before all branches have started or ends before all ended.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from vani.errors import ConfigurationError
from vani.frames import CancelFrame, EndFrame, Frame, FrameDirection, StartFrame, StopFrame
from vani.pipeline.pipeline import Pipeline
from vani.processors.frame_processor import FrameProcessor

_DOWNSTREAM = FrameDirection.DOWNSTREAM
_LIFECYCLE = (StartFrame, EndFrame, CancelFrame, StopFrame)
# Frames seen leaving some branches but not (yet) all; bounded so frames that a branch consumes
# cannot make it grow without end.
_MAX_TRACKED = 4096


class _Branch(Pipeline):
    def __init__(self, owner: ParallelPipeline, processors: Sequence[FrameProcessor]) -> None:
        super().__init__(processors, name=f"{owner.name}::branch")
        self._parallel = owner

    def _leave(self, frame: Frame, direction: FrameDirection) -> None:
        self._parallel._branch_output(frame, direction)


class ParallelPipeline(FrameProcessor):
    """``ParallelPipeline([a, b], [c])``: each frame to every branch, in branch order."""

    def __init__(self, *branches: Sequence[FrameProcessor], name: str | None = None) -> None:
        super().__init__(name=name)
        if not branches:
            raise ConfigurationError("ParallelPipeline needs at least one branch")
        for b in branches:
            if isinstance(b, FrameProcessor) or not isinstance(b, Sequence):
                raise ConfigurationError(
                    "each ParallelPipeline branch must be a list of processors,"
                    f" got {type(b).__name__}"
                )
        self._branches = [_Branch(self, b) for b in branches]
        self._counts: OrderedDict[tuple[int, FrameDirection], int] = OrderedDict()
        self._is_router = True
        self._router = self._route

    def processors_tree(self) -> list[FrameProcessor]:
        out: list[FrameProcessor] = [self]
        for b in self._branches:
            out.extend(b.processors_tree())
        return out

    def _route(self, frame: Frame, direction: FrameDirection) -> None:
        for branch in self._branches:
            branch._deliver(frame, direction)

    def _branch_output(self, frame: Frame, direction: FrameDirection) -> None:
        key = (frame.id, direction)
        seen = self._counts.get(key, 0) + 1
        n = len(self._branches)
        if seen >= n:
            self._counts.pop(key, None)
        else:
            self._counts[key] = seen
            if len(self._counts) > _MAX_TRACKED:
                self._counts.popitem(last=False)
        if isinstance(frame, _LIFECYCLE):
            if seen != n:
                return
        elif seen != 1:
            return
        target = self._next if direction is _DOWNSTREAM else self._prev
        if target is not None:
            target._deliver(frame, direction)
