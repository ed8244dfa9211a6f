"""A pytest plugin for your own bot's performance: the ``vani_call_profile`` fixture.

Installed with vani (entry point ``pytest11``), active in any pytest run where vani is
installed. The fixture runs your processors between a :class:`~vani.transports.file.FileTransport`
input and output over a WAV on the virtual clock (a call of any length takes only its
processing time) and reports:

* ``cpu_ms_per_audio_sec`` — process CPU time per second of caller audio (1000 / this is the
  calls one core holds, for this pipeline),
* ``allocations_per_frame`` — Python memory blocks the steady state retains per 20 ms input
  frame (tracemalloc; 0 for a path that allocates nothing it keeps),
* ``peak_memory_bytes`` — the most Python memory the call held at once (tracemalloc).

A first call warms up (imports, models); the CPU run and the traced run are separate calls
after it (tracing slows Python down). Use it with
pytest-benchmark by putting the figures in ``benchmark.extra_info``, or assert on them. Guide:
docs/embedding.md ("Gate your own bot").
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from vani.processors import FrameProcessor

__all__ = ["CallProfile", "CallProfiler", "vani_call_profile"]


@dataclass(frozen=True, slots=True)
class CallProfile:
    """One profiled call; see the module docstring for each figure."""

    audio_secs: float
    frames: int
    cpu_secs: float
    cpu_ms_per_audio_sec: float
    allocations_per_frame: float
    peak_memory_bytes: int

    def as_dict(self) -> dict[str, float]:
        """The figures, for ``benchmark.extra_info.update(...)``."""
        return {k: float(v) for k, v in asdict(self).items()}


class CallProfiler:
    """Runs a pipeline over a WAV on the virtual clock and measures it (see the module doc)."""

    async def run(
        self,
        processors: Callable[[], Sequence[FrameProcessor]],
        wav: str | Path,
        *,
        trace: bool = True,
    ) -> CallProfile:
        """``processors()`` builds a fresh list of processors per call (they sit between the
        WAV input and the output); ``trace=False`` skips the memory run."""
        await self._call(processors, wav)  # warm: imports, models, caches
        audio_secs, frames, cpu = await self._call(processors, wav)
        per_frame, peak = 0.0, 0
        if trace:
            per_frame, peak = await self._traced(processors, wav, frames)
        return CallProfile(
            audio_secs=audio_secs,
            frames=frames,
            cpu_secs=cpu,
            cpu_ms_per_audio_sec=cpu / audio_secs * 1000 if audio_secs else 0.0,
            allocations_per_frame=per_frame,
            peak_memory_bytes=peak,
        )

    def run_sync(
        self,
        processors: Callable[[], Sequence[FrameProcessor]],
        wav: str | Path,
        *,
        trace: bool = True,
    ) -> CallProfile:
        """:meth:`run` on a fresh event loop (for sync tests and ``benchmark.pedantic``)."""
        return asyncio.run(self.run(processors, wav, trace=trace))

    async def _call(
        self, processors: Callable[[], Sequence[FrameProcessor]], wav: str | Path
    ) -> tuple[float, int, float]:
        from vani.pipeline import Pipeline, PipelineRunner, PipelineTask
        from vani.transports.file import FileTransport

        transport = FileTransport(wav, None)
        caller = transport.caller
        audio_secs = caller.num_frames / caller.sample_rate
        pipeline = Pipeline([transport.input(), *processors(), transport.output()])
        task = PipelineTask(pipeline, idle_timeout_secs=None)
        began = time.process_time()
        await PipelineRunner(handle_sigint=False).run(task)
        return audio_secs, round(audio_secs / 0.02), time.process_time() - began

    async def _traced(
        self, processors: Callable[[], Sequence[FrameProcessor]], wav: str | Path, frames: int
    ) -> tuple[float, int]:
        was_tracing = tracemalloc.is_tracing()
        if not was_tracing:
            tracemalloc.start()
        try:
            await self._call(processors, wav)  # warm, under tracing too
            tracemalloc.reset_peak()
            before = _blocks()
            await self._call(processors, wav)
            after = _blocks()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            if not was_tracing:
                tracemalloc.stop()
        return max(0, after - before) / max(frames, 1), peak


def _blocks() -> int:
    return sum(s.count for s in tracemalloc.take_snapshot().statistics("filename"))


@pytest.fixture
def vani_call_profile() -> CallProfiler:
    """A :class:`CallProfiler`: ``await vani_call_profile.run(make_processors, "call.wav")``."""
    return CallProfiler()
