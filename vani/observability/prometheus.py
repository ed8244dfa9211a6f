"""Prometheus metrics of a vani process, served at ``GET /metrics`` (docs/observability.md).

:class:`VaniMetrics` owns the metric families (``prometheus-client``): active calls, calls
started / ended / refused, per-stage latency histograms, errors by service, tokens, TTS
characters, STT seconds, tool calls, event-loop lag and resident memory. Each call feeds them
through :meth:`VaniMetrics.session_listener` (one update per turn and per call, nothing per
frame); :class:`LoopMonitor` samples event-loop lag and RSS.

With several worker processes (``vani serve --workers N``) the parent sets
``PROMETHEUS_MULTIPROC_DIR`` and every worker writes its values there, so whichever worker
answers a scrape reports the whole server (``prometheus-client``'s multiprocess mode): active
calls add up across workers, lag is the worst worker's, memory is listed per worker ``pid``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import threading
import time
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from vani.observability.aggregator import MetricsAggregator, SessionListener
from vani.observability.records import TurnRecord

__all__ = [
    "LATENCY_BUCKETS",
    "LoopMonitor",
    "VaniMetrics",
    "multiprocess_enabled",
    "rss_bytes",
    "tune_gc",
]

#: Seconds; from a framework's own milliseconds to a slow cloud reply.
LATENCY_BUCKETS: Final = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.2,
    0.3,
    0.5,
    0.75,
    1.0,
    1.5,
    2.0,
    3.0,
    5.0,
    10.0,
)
LAG_BUCKETS: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def multiprocess_enabled() -> bool:
    """True when ``PROMETHEUS_MULTIPROC_DIR`` is set (worker processes share their values)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def rss_bytes() -> int:
    """This process's resident memory now (Linux ``/proc``; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _outcome(session: MetricsAggregator) -> str:
    if any(e.fatal for e in session.errors):
        return "error"
    reason = (session.end_reason or "").lower()
    if "cancel" in reason or "disconnect" in reason or "timeout" in reason:
        return "cancelled"
    return "completed"


def tune_gc(threshold0: int = 50_000) -> None:
    """Make the cyclic garbage collector cheaper for a long-running server: move everything
    alive now (modules, the app, models) out of its scans (``gc.freeze``) and collect the
    young generation every ``threshold0`` allocations instead of 700. Call once after
    start-up; full collections then only scan what calls created."""
    gc.collect()
    gc.freeze()
    _, threshold1, threshold2 = gc.get_threshold()
    gc.set_threshold(threshold0, threshold1, threshold2)


class VaniMetrics:
    """The metric families of one process (see the module docstring).

    ``registry``: where to register them (default: a registry of their own, which
    :meth:`render` serves). ``namespace`` prefixes every name.
    """

    def __init__(
        self, registry: CollectorRegistry | None = None, *, namespace: str = "vani"
    ) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.multiprocess = multiprocess_enabled()
        ns, reg = namespace, self.registry
        self.active_calls = Gauge(
            "active_calls",
            "Calls in progress in this server.",
            namespace=ns,
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.calls_started = Counter("calls_started", "Calls accepted.", namespace=ns, registry=reg)
        self.calls_ended = Counter(
            "calls_ended",
            "Calls that ended, by outcome (completed, cancelled, error).",
            ["outcome"],
            namespace=ns,
            registry=reg,
        )
        self.calls_refused = Counter(
            "calls_refused",
            "Calls refused, by reason (capacity, draining, token, origin).",
            ["reason"],
            namespace=ns,
            registry=reg,
        )
        self.stage_latency = Histogram(
            "stage_latency_seconds",
            "Per-turn latency of each stage (voice_to_voice, llm_ttfb, ...).",
            ["stage"],
            namespace=ns,
            registry=reg,
            buckets=LATENCY_BUCKETS,
        )
        self.turns = Counter("turns", "Turns finished.", namespace=ns, registry=reg)
        self.interruptions = Counter(
            "interruptions", "Times the user barged in on the bot.", namespace=ns, registry=reg
        )
        self.errors = Counter(
            "errors", "Errors in calls, by service.", ["service"], namespace=ns, registry=reg
        )
        self.tokens = Counter(
            "llm_tokens",
            "LLM tokens, by kind (prompt, completion).",
            ["kind"],
            namespace=ns,
            registry=reg,
        )
        self.tts_characters = Counter(
            "tts_characters", "Characters sent to TTS.", namespace=ns, registry=reg
        )
        self.stt_seconds = Counter(
            "stt_audio_seconds", "Seconds of audio sent to STT.", namespace=ns, registry=reg
        )
        self.tool_calls = Counter(
            "tool_calls", "Tool calls, by function.", ["function"], namespace=ns, registry=reg
        )
        self.loop_lag = Histogram(
            "event_loop_lag_seconds",
            "How late the event loop woke a sleeping task.",
            namespace=ns,
            registry=reg,
            buckets=LAG_BUCKETS,
        )
        self.loop_lag_max = Gauge(
            "event_loop_lag_max_seconds",
            "Worst event-loop lag since the last sample window.",
            namespace=ns,
            registry=reg,
            multiprocess_mode="livemax",
        )
        self.gc_pause = Histogram(
            "gc_pause_seconds",
            "Full (generation 2) collections of Python's cyclic garbage collector.",
            namespace=ns,
            registry=reg,
            buckets=LAG_BUCKETS,
        )
        self.rss = Gauge(
            "resident_memory_bytes",
            "Resident memory of the process (per worker pid with several workers).",
            namespace=ns,
            registry=reg,
            multiprocess_mode="liveall",
        )
        if not self.multiprocess:
            with contextlib.suppress(ValueError):  # already registered in a shared registry
                ProcessCollector(registry=reg)

    def session_listener(self) -> PrometheusSessionListener:
        """A listener to attach to one call's aggregator."""
        return PrometheusSessionListener(self)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type (for ``GET /metrics``)."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    @staticmethod
    def worker_exited(pid: int) -> None:
        """Forget a dead worker's live gauges (the supervisor calls this)."""
        if multiprocess_enabled():
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class PrometheusSessionListener(SessionListener):
    """Feeds one call's turns into :class:`VaniMetrics`."""

    def __init__(self, metrics: VaniMetrics) -> None:
        self.metrics = metrics
        self._open = False

    def on_session_start(self, session: MetricsAggregator) -> None:
        self._open = True
        self.metrics.active_calls.inc()
        self.metrics.calls_started.inc()

    def on_turn_end(self, session: MetricsAggregator, turn: TurnRecord) -> None:
        m = self.metrics
        m.turns.inc()
        for stage, value in turn.latencies.items():
            m.stage_latency.labels(stage).observe(value)
        if turn.interrupted:
            m.interruptions.inc()
        for error in turn.errors:
            m.errors.labels(error.service).inc()
        usage = turn.usage
        if usage.prompt_tokens:
            m.tokens.labels("prompt").inc(usage.prompt_tokens)
        if usage.completion_tokens:
            m.tokens.labels("completion").inc(usage.completion_tokens)
        if usage.tts_characters:
            m.tts_characters.inc(usage.tts_characters)
        if usage.stt_seconds:
            m.stt_seconds.inc(usage.stt_seconds)
        for tool in turn.tool_calls:
            m.tool_calls.labels(tool.function_name).inc()

    def on_session_end(self, session: MetricsAggregator) -> None:
        if self._open:
            self._open = False
            self.metrics.active_calls.dec()
        self.metrics.calls_ended.labels(_outcome(session)).inc()


class LoopMonitor:
    """Samples event-loop lag (how late a ``sleep(interval)`` wakes) and RSS.

    :attr:`max_lag` is the worst lag seen since :meth:`reset_max`; the metrics get every
    sample. :attr:`max_busy_lag` counts only the part of a lag during which this thread was
    running (its CPU time): a callback that blocks the loop shows there, a process that the
    OS did not schedule (a busy machine) does not. Pauses of Python's cyclic garbage collector
    are timed apart (:attr:`max_gc_pause`, histogram ``vani_gc_pause_seconds``), and
    :attr:`max_busy_lag_excluding_gc` is the busy lag minus the collector's time in the same
    interval: what the code running on the loop is responsible for. Start with :meth:`start`
    from the loop, end with :meth:`stop`.
    """

    def __init__(self, metrics: VaniMetrics | None = None, *, interval: float = 0.05) -> None:
        self.metrics = metrics
        self.interval = interval
        self.max_lag = 0.0
        self.max_busy_lag = 0.0
        self.max_busy_lag_excluding_gc = 0.0
        self.max_gc_pause = 0.0
        self.samples = 0
        self._gc_time = 0.0
        self._gc_started: float | None = None
        self._window_max = 0.0
        self._task: asyncio.Task[None] | None = None
        self._thread = 0

    def start(self) -> None:
        if self._task is None:
            self._thread = threading.get_ident()
            gc.callbacks.append(self._on_gc)
            self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-monitor")

    async def stop(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})

    def reset_max(self) -> None:
        self.max_lag = 0.0
        self.max_busy_lag = 0.0
        self.max_busy_lag_excluding_gc = 0.0
        self.max_gc_pause = 0.0

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if threading.get_ident() != self._thread:
            return
        if phase == "start":
            self._gc_started = time.thread_time()
        elif self._gc_started is not None:
            pause = time.thread_time() - self._gc_started
            self._gc_started = None
            self._gc_time += pause
            self.max_gc_pause = max(self.max_gc_pause, pause)
            if self.metrics is not None and info.get("generation") == 2:
                self.metrics.gc_pause.observe(pause)

    async def _run(self) -> None:
        interval = self.interval
        window_start = float("-inf")  # the first sample also sets the gauges
        while True:
            before = time.monotonic()
            cpu_before = time.thread_time()
            gc_before = self._gc_time
            await asyncio.sleep(interval)
            elapsed = time.monotonic() - before
            lag = max(0.0, elapsed - interval)
            busy = max(0.0, min(elapsed, time.thread_time() - cpu_before) - interval)
            self.samples += 1
            self.max_lag = max(self.max_lag, lag)
            self.max_busy_lag = max(self.max_busy_lag, busy)
            own = max(0.0, busy - (self._gc_time - gc_before))
            self.max_busy_lag_excluding_gc = max(self.max_busy_lag_excluding_gc, own)
            self._window_max = max(self._window_max, lag)
            m = self.metrics
            if m is None:
                continue
            m.loop_lag.observe(lag)
            now = time.monotonic()
            if now - window_start >= 5.0:
                m.loop_lag_max.set(self._window_max)
                m.rss.set(rss_bytes())
                self._window_max = 0.0
                window_start = now
