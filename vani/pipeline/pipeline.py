"""Pipeline: a chain of processors that is itself a processor, so pipelines nest.

A frame given to a pipeline goes to its first processor (downstream) or its last (upstream);
a frame leaving the chain at either end continues in the enclosing chain. The pipeline adds no
queue and no hop of its own.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from vani.errors import ConfigurationError
from vani.frames import Frame, FrameDirection
from vani.processors.frame_processor import FrameProcessor

_DOWNSTREAM = FrameDirection.DOWNSTREAM


class PipelineEdge(FrameProcessor):
    """An end of a chain: frames that reach it leave the enclosing pipeline."""

    def __init__(self, owner: Pipeline, direction: FrameDirection) -> None:
        super().__init__(name=f"{owner.name}::{'sink' if direction is _DOWNSTREAM else 'source'}")
        self._owner = owner
        self._is_router = True
        # Plain pipelines hand frames straight to their neighbour (``_fwd_*``, set when the
        # pipeline is linked); pipelines that merge outputs (parallel branches) route through
        # ``_leave``.
        if type(owner)._leave is not Pipeline._leave:
            self._router = owner._leave


class Pipeline(FrameProcessor):
    """Processors linked in order. ``Pipeline([a, b, c])`` behaves like one processor."""

    def __init__(self, processors: Sequence[FrameProcessor], *, name: str | None = None) -> None:
        super().__init__(name=name)
        items = list(processors)
        for p in items:
            if not isinstance(p, FrameProcessor):
                raise ConfigurationError(
                    f"pipeline items must be FrameProcessor instances, got {type(p).__name__}"
                )
        if len({id(p) for p in items}) != len(items):
            raise ConfigurationError("a processor appears twice in the pipeline")
        self._processors = items
        self._source = PipelineEdge(self, FrameDirection.UPSTREAM)
        self._sink = PipelineEdge(self, _DOWNSTREAM)
        chain: list[FrameProcessor] = [self._source, *items, self._sink]
        for a, b in itertools.pairwise(chain):
            a.link(b)
        self._first: FrameProcessor = chain[1]
        self._last: FrameProcessor = chain[-2]
        # A pipeline adds no lane of its own: frames given to it go straight to its ends.
        self._is_router = True
        self._fwd_down = self._first
        self._fwd_up = self._last

    def _linked(self) -> None:
        if type(self)._leave is Pipeline._leave:
            self._sink._fwd_down = self._next
            self._source._fwd_up = self._prev

    @property
    def processors(self) -> list[FrameProcessor]:
        """The processors of this chain, in order (not counting nested ones)."""
        return list(self._processors)

    def processors_tree(self) -> list[FrameProcessor]:
        out: list[FrameProcessor] = [self]
        for p in self._processors:
            out.extend(p.processors_tree())
        return out

    def _leave(self, frame: Frame, direction: FrameDirection) -> None:
        """Where frames leaving the chain go. Plain pipelines forward in C instead (``_linked``);
        a subclass that must see them (parallel branches) overrides this."""
        target = self._next if direction is _DOWNSTREAM else self._prev
        if target is not None:
            target._deliver(frame, direction)
