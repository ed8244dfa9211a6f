"""The spine scenarios, written once against the API vani shares with Pipecat.

This module runs under either framework's interpreter: it imports neither at module level, and
nothing else from ``benchmarks/``, so ``compare_pipecat.py`` can run it with a Pipecat venv's
Python (``python spine_scenarios.py --framework pipecat throughput``) and read one JSON object
from its stdout. ``bench_spine.py`` imports it for the pytest-benchmark suite.

The processors are the Pipecat-style subclasses a user would write (``Echo`` calls
``super().process_frame`` then ``push_frame``), defined once per framework over that framework's
own ``FrameProcessor``; the pipeline is that framework's ``Pipeline``, run by its task and runner.

Minimal configuration, both sides (what each task does by default and is switched off here):

* vani ``PipelineTask``: ``idle_timeout_secs=None`` (the default arms a 300 s idle timer);
  no observers, metrics and heartbeats are off by default.
* Pipecat 1.14 ``PipelineWorker`` (``PipelineTask``/``PipelineRunner`` are, since 1.3, deprecated
  subclasses of ``PipelineWorker``/``WorkerRunner`` that add nothing, so the current names are
  used): ``enable_rtvi=False`` (by default it prepends an ``RTVIProcessor`` and adds an
  ``RTVIObserver``), ``enable_turn_tracking=False`` (a ``TurnTrackingObserver`` by default),
  ``idle_timeout_secs=None`` (an ``IdleFrameObserver`` plus a monitor task by default).
  Heartbeats, metrics, usage metrics and tracing are off by default. Processors keep their
  default queued mode (``enable_direct_mode=False``), which is what a Pipecat user's subclass
  gets. The ``WorkerObserver`` proxy that every ``PipelineWorker`` installs cannot be switched
  off. Loguru is set to WARNING so that per-session debug lines are not written.

Scenarios (per round, frames are built before the clock starts):

* ``throughput``: 20,000 ``InputAudioRawFrame`` (640 B, seeded) queued on a started task,
  through 10 ``Echo`` processors and a sink; per-frame time from the first ``queue_frame`` to
  the sink seeing the last frame.
* ``interrupt-output`` / ``interrupt-input``: 10 processors, the 5th awaits
  ``asyncio.sleep(0.002)`` per audio frame, then a sink. 500 audio frames are queued; once the
  4th processor has passed all 500 (so they are queued at or in flight in the 5th) and the first
  has reached the sink, ``task.queue_frame(InterruptionFrame())``; the latency runs from that call
  to the InterruptionFrame entering the sink. Output audio: the frames that still reach the sink
  after it are counted as stale (a ``TextFrame`` marker queued after the interruption bounds the
  wait). Input audio: every one of the 500 must still reach the sink; lost ones are counted.
* ``construct``: building one ``InputAudioRawFrame(audio=..., sample_rate=16000,
  num_channels=1)``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import random
import statistics
import sys
import time
import timeit
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

FRAME_BYTES = 640  # 20 ms of 16 kHz mono 16-bit PCM
THROUGHPUT_FRAMES = 20_000
INTERRUPT_FRAMES = 500
NUM_PROCESSORS = 10
SLOW_INDEX = 4  # the 5th processor
SLOW_DELAY_S = 0.002
SESSION_PROCESSORS = 5
WAIT_S = 60.0  # generous: the machine is shared and Pipecat's input case takes ~1 s a round


@dataclass(frozen=True)
class Framework:
    """One framework's spelling of the shared API."""

    name: str
    version: str
    FrameProcessor: type[Any]
    Pipeline: Callable[[list[Any]], Any]
    make_task: Callable[[Any], Any]
    run_task: Callable[[Any], Coroutine[Any, Any, None]]
    InputAudioRawFrame: type[Any]
    OutputAudioRawFrame: type[Any]
    InterruptionFrame: type[Any]
    EndFrame: type[Any]
    TextFrame: type[Any]


def load_vani() -> Framework:
    import vani
    from vani.frames import (
        EndFrame,
        InputAudioRawFrame,
        InterruptionFrame,
        OutputAudioRawFrame,
        TextFrame,
    )
    from vani.pipeline import Pipeline, PipelineRunner, PipelineTask
    from vani.processors import FrameProcessor

    def make_task(pipeline: Any) -> Any:
        return PipelineTask(pipeline, idle_timeout_secs=None)

    async def run_task(task: Any) -> None:
        await PipelineRunner(handle_sigint=False).run(task)

    return Framework(
        name="vani",
        version=getattr(vani, "__version__", "?"),
        FrameProcessor=FrameProcessor,
        Pipeline=Pipeline,
        make_task=make_task,
        run_task=run_task,
        InputAudioRawFrame=InputAudioRawFrame,
        OutputAudioRawFrame=OutputAudioRawFrame,
        InterruptionFrame=InterruptionFrame,
        EndFrame=EndFrame,
        TextFrame=TextFrame,
    )


def load_pipecat() -> Framework:
    # Pipecat is imported by name so that this module type-checks without Pipecat installed.
    # Loguru (a Pipecat dependency) is quietened first, so Pipecat's import banner and its
    # per-session debug lines are not written.
    logger = importlib.import_module("loguru").logger
    logger.remove()
    logger.add(sys.stderr, level="WARNING")

    pipecat = importlib.import_module("pipecat")
    frames = importlib.import_module("pipecat.frames.frames")
    Pipeline = importlib.import_module("pipecat.pipeline.pipeline").Pipeline
    FrameProcessor = importlib.import_module("pipecat.processors.frame_processor").FrameProcessor
    try:
        worker = importlib.import_module("pipecat.pipeline.worker")
        PipelineParams, PipelineWorker = worker.PipelineParams, worker.PipelineWorker
        WorkerRunner = importlib.import_module("pipecat.workers.runner").WorkerRunner
    except ImportError:  # Pipecat before 1.3: the same classes under their old names
        task_module = importlib.import_module("pipecat.pipeline.task")
        PipelineParams, PipelineWorker = task_module.PipelineParams, task_module.PipelineTask
        WorkerRunner = importlib.import_module("pipecat.pipeline.runner").PipelineRunner

    def make_task(pipeline: Any) -> Any:
        return PipelineWorker(
            pipeline,
            params=PipelineParams(),
            enable_rtvi=False,
            enable_turn_tracking=False,
            idle_timeout_secs=None,
        )

    async def run_task(task: Any) -> None:
        runner = WorkerRunner(handle_sigint=False)
        if hasattr(runner, "add_workers"):
            await runner.add_workers(task)
            await runner.run()
        else:
            await runner.run(task)

    return Framework(
        name="pipecat",
        version=getattr(pipecat, "__version__", "?"),
        FrameProcessor=FrameProcessor,
        Pipeline=Pipeline,
        make_task=make_task,
        run_task=run_task,
        InputAudioRawFrame=frames.InputAudioRawFrame,
        OutputAudioRawFrame=frames.OutputAudioRawFrame,
        InterruptionFrame=frames.InterruptionFrame,
        EndFrame=frames.EndFrame,
        TextFrame=frames.TextFrame,
    )


def load(name: str) -> Framework:
    if name == "vani":
        return load_vani()
    if name == "pipecat":
        return load_pipecat()
    raise ValueError(f"expected framework 'vani' or 'pipecat', got {name!r}")


def seeded_audio(seed: int = 0, size: int = FRAME_BYTES) -> bytes:
    return random.Random(seed).randbytes(size)


# -- processors ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Processors:
    """The scenario processors, subclassed from one framework's FrameProcessor."""

    Echo: type[Any]
    CountingEcho: type[Any]
    Slow: type[Any]
    Sink: type[Any]


_processors_cache: dict[str, Processors] = {}


def processors(fw: Framework) -> Processors:
    cached = _processors_cache.get(fw.name)
    if cached is not None:
        return cached
    base = fw.FrameProcessor
    interruption_type = fw.InterruptionFrame
    marker_type = fw.TextFrame

    class Echo(base):  # type: ignore[misc, valid-type]
        """The Pipecat-style pass-through processor."""

        async def process_frame(self, frame: Any, direction: Any) -> None:
            await super().process_frame(frame, direction)
            await self.push_frame(frame, direction)

    class CountingEcho(base):  # type: ignore[misc, valid-type]
        """Pass-through that counts the audio frames it has pushed on."""

        def __init__(self, audio_type: type[Any], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.audio_type = audio_type
            self.passed = 0

        async def process_frame(self, frame: Any, direction: Any) -> None:
            await super().process_frame(frame, direction)
            await self.push_frame(frame, direction)
            if isinstance(frame, self.audio_type):
                self.passed += 1

    class Slow(base):  # type: ignore[misc, valid-type]
        """Awaits ``delay_s`` per audio frame, like a processor doing I/O."""

        def __init__(self, audio_type: type[Any], delay_s: float, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.audio_type = audio_type
            self.delay_s = delay_s

        async def process_frame(self, frame: Any, direction: Any) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, self.audio_type):
                await asyncio.sleep(self.delay_s)
            await self.push_frame(frame, direction)

    class Sink(base):  # type: ignore[misc, valid-type]
        """Last processor: records what reaches it and when, and passes everything on."""

        def __init__(self, audio_type: type[Any], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.audio_type = audio_type
            self.reset(0)

        def reset(self, expected: int) -> None:
            self.expected = expected
            self.audio_seen = 0
            self.audio_after_interruption = 0
            self.interruption_at: float | None = None
            self.first_audio = asyncio.Event()
            self.all_audio = asyncio.Event()
            self.interrupted = asyncio.Event()
            self.marker = asyncio.Event()

        async def process_frame(self, frame: Any, direction: Any) -> None:
            now = time.perf_counter()
            await super().process_frame(frame, direction)
            if isinstance(frame, self.audio_type):
                self.audio_seen += 1
                if self.interruption_at is not None:
                    self.audio_after_interruption += 1
                if self.audio_seen == 1:
                    self.first_audio.set()
                if self.audio_seen == self.expected:
                    self.all_audio.set()
            elif isinstance(frame, interruption_type):
                if self.interruption_at is None:
                    self.interruption_at = now
                self.interrupted.set()
            elif isinstance(frame, marker_type):
                self.marker.set()
            await self.push_frame(frame, direction)

    result = Processors(Echo=Echo, CountingEcho=CountingEcho, Slow=Slow, Sink=Sink)
    _processors_cache[fw.name] = result
    return result


# -- a running session --------------------------------------------------------------------------


class Session:
    """A task over ``procs`` run by the framework's runner in a background asyncio task."""

    def __init__(self, fw: Framework, procs: list[Any]) -> None:
        self.fw = fw
        self.task = fw.make_task(fw.Pipeline(procs))
        self._started = asyncio.Event()
        self._run: asyncio.Task[None] | None = None

        self.task.event_handler("on_pipeline_started")(self._on_started)

    async def _on_started(self, task: Any, frame: Any) -> None:
        self._started.set()

    async def start(self) -> None:
        self._run = asyncio.create_task(self.fw.run_task(self.task))
        await asyncio.wait_for(self._started.wait(), WAIT_S)

    async def stop(self) -> None:
        assert self._run is not None
        await self.task.queue_frame(self.fw.EndFrame())
        try:
            await asyncio.wait_for(asyncio.shield(self._run), WAIT_S)
        except TimeoutError:
            self._run.cancel()
            raise


# -- scenarios ----------------------------------------------------------------------------------


class Throughput:
    """20,000 input-audio frames through 10 pass-through processors and a sink."""

    def __init__(
        self, fw: Framework, n_frames: int = THROUGHPUT_FRAMES, n_processors: int = NUM_PROCESSORS
    ) -> None:
        self.fw = fw
        self.n_frames = n_frames
        p = processors(fw)
        self.sink = p.Sink(fw.InputAudioRawFrame)
        self.session = Session(fw, [p.Echo() for _ in range(n_processors)] + [self.sink])
        self.audio = seeded_audio()
        self.last_cpu_us = 0.0

    def frames(self) -> list[Any]:
        make = self.fw.InputAudioRawFrame
        audio = self.audio
        return [make(audio=audio, sample_rate=16000, num_channels=1) for _ in range(self.n_frames)]

    async def push(self, frames: Sequence[Any]) -> float:
        """Queue ``frames`` and wait until the sink saw them all; returns wall µs per frame.

        The process's CPU µs per frame over the same span go to ``last_cpu_us``: on a shared
        machine wall time includes the time other processes held the CPU, CPU time does not.
        """
        self.sink.reset(len(frames))
        c0 = time.process_time()
        t0 = time.perf_counter()
        await self.session.task.queue_frames(frames)
        await asyncio.wait_for(self.sink.all_audio.wait(), WAIT_S)
        wall = time.perf_counter() - t0
        self.last_cpu_us = (time.process_time() - c0) / len(frames) * 1e6
        return wall / len(frames) * 1e6


@dataclass(frozen=True)
class InterruptRound:
    latency_ms: float
    audio_after: int  # output: stale frames; input: frames that arrived after the interruption
    lost: int  # frames that never reached the sink (input audio only)


class Interrupt:
    """An interruption overtaking 500 queued audio frames behind a slow 5th processor."""

    def __init__(self, fw: Framework, audio: str, n_frames: int = INTERRUPT_FRAMES) -> None:
        if audio not in ("output", "input"):
            raise ValueError(f"expected audio 'output' or 'input', got {audio!r}")
        self.fw = fw
        self.is_input = audio == "input"
        self.audio_type = fw.InputAudioRawFrame if self.is_input else fw.OutputAudioRawFrame
        self.n_frames = n_frames
        p = processors(fw)
        before = [p.Echo() for _ in range(SLOW_INDEX - 1)]
        self.counter = p.CountingEcho(self.audio_type)
        slow = p.Slow(self.audio_type, SLOW_DELAY_S)
        after = [p.Echo() for _ in range(NUM_PROCESSORS - SLOW_INDEX - 1)]
        self.sink = p.Sink(self.audio_type)
        procs = [*before, self.counter, slow, *after, self.sink]
        assert len(procs) == NUM_PROCESSORS + 1
        self.session = Session(fw, procs)
        self.audio = seeded_audio(1)

    def frames(self) -> list[Any]:
        rate = 16000 if self.is_input else 24000
        make = self.audio_type
        return [
            make(audio=self.audio, sample_rate=rate, num_channels=1) for _ in range(self.n_frames)
        ]

    async def prepare(self, frames: Sequence[Any]) -> None:
        """Queue ``frames`` and return once they are all queued at, or in flight in, the slow
        processor and the first has reached the sink."""
        self.sink.reset(len(frames))
        self.counter.passed = 0
        await self.session.task.queue_frames(frames)
        deadline = time.monotonic() + WAIT_S
        while self.counter.passed < len(frames) or not self.sink.first_audio.is_set():
            if time.monotonic() > deadline:
                raise TimeoutError("audio frames did not reach the slow processor")
            await asyncio.sleep(0.0005)

    async def interrupt(self) -> float:
        """Queue an InterruptionFrame on the task; ms until it entered the sink."""
        sink = self.sink
        interruption = self.fw.InterruptionFrame()
        t0 = time.perf_counter()
        await self.session.task.queue_frame(interruption)
        await asyncio.wait_for(sink.interrupted.wait(), WAIT_S)
        assert sink.interruption_at is not None
        return float(sink.interruption_at - t0) * 1e3

    async def settle(self) -> tuple[int, int]:
        """Wait for the aftermath; returns (audio frames after the interruption, lost frames)."""
        sink = self.sink
        lost = 0
        if self.is_input:
            try:
                await asyncio.wait_for(sink.all_audio.wait(), WAIT_S)
            except TimeoutError:
                lost = sink.expected - sink.audio_seen
        else:
            await self.session.task.queue_frame(self.fw.TextFrame(text="marker"))
            await asyncio.wait_for(sink.marker.wait(), WAIT_S)
            # Any stale frame still in flight behind the marker would show up within a few
            # of the slow processor's periods.
            await asyncio.sleep(10 * SLOW_DELAY_S)
        return sink.audio_after_interruption, lost

    async def round(self, frames: Sequence[Any]) -> InterruptRound:
        await self.prepare(frames)
        latency_ms = await self.interrupt()
        audio_after, lost = await self.settle()
        return InterruptRound(latency_ms, audio_after, lost)


def construct_ns(
    fw: Framework,
    number: int = 100_000,
    repeat: int = 7,
    clock: Callable[[], float] = time.perf_counter,
) -> list[float]:
    """ns per ``InputAudioRawFrame`` built, one figure per repeat, by ``clock`` (wall by
    default; ``time.process_time`` for CPU time)."""
    make = fw.InputAudioRawFrame
    audio = seeded_audio()
    timer = timeit.Timer(
        "make(audio=audio, sample_rate=16000, num_channels=1)",
        timer=clock,
        globals={"make": make, "audio": audio},
    )
    return [t / number * 1e9 for t in timer.repeat(repeat=repeat, number=number)]


# -- command line (one scenario per process, JSON on stdout) ------------------------------------


async def _run_throughput(fw: Framework, rounds: int) -> dict[str, Any]:
    sc = Throughput(fw)
    await sc.session.start()
    per_frame, cpu = [], []
    for _ in range(rounds):
        per_frame.append(await sc.push(sc.frames()))
        cpu.append(sc.last_cpu_us)
    await sc.session.stop()
    return {
        "per_frame_us": statistics.median(per_frame),
        "cpu_per_frame_us": statistics.median(cpu),
        "rounds_us": per_frame,
    }


async def _run_interrupt(fw: Framework, audio: str, rounds: int) -> dict[str, Any]:
    sc = Interrupt(fw, audio)
    await sc.session.start()
    results = [await sc.round(sc.frames()) for _ in range(rounds)]
    await sc.session.stop()
    lat = [r.latency_ms for r in results]
    return {
        "latency_ms": statistics.median(lat),
        "rounds_ms": lat,
        "audio_after_max": max(r.audio_after for r in results),
        "lost_max": max(r.lost for r in results),
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--framework", choices=["vani", "pipecat"], default="vani")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "scenario", choices=["throughput", "interrupt-output", "interrupt-input", "construct"]
    )
    args = ap.parse_args(argv)
    fw = load(args.framework)
    out: dict[str, Any] = {"framework": fw.name, "version": fw.version, "scenario": args.scenario}
    if args.scenario == "throughput":
        out |= asyncio.run(_run_throughput(fw, args.rounds))
    elif args.scenario == "interrupt-output":
        out |= asyncio.run(_run_interrupt(fw, "output", args.rounds))
    elif args.scenario == "interrupt-input":
        out |= asyncio.run(_run_interrupt(fw, "input", args.rounds))
    else:
        ns = construct_ns(fw)
        cpu_ns = construct_ns(fw, clock=time.process_time)
        out |= {
            "construct_ns": statistics.median(ns),
            "cpu_construct_ns": statistics.median(cpu_ns),
            "repeats_ns": ns,
        }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
