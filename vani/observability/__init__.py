"""Observability of calls: per-turn metrics, session reports, traces, Prometheus, log context.

See docs/observability.md. The usual entry point is :func:`observe`, which attaches a
:class:`MetricsAggregator` to a :class:`~vani.pipeline.task.PipelineTask` with the listeners
asked for (a JSON report, Prometheus metrics, OpenTelemetry traces) and ends it with the task::

    aggregator = observe(task, session_id="call-42", report_dir="reports/", metrics=metrics)

``prometheus-client`` and OpenTelemetry load only when used: importing this package costs neither.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from vani.errors import ConfigurationError
from vani.frames import Frame
from vani.observability.aggregator import MetricsAggregator, SessionListener, service_role
from vani.observability.logs import (
    SessionIdFilter,
    SessionLoggerAdapter,
    current_session_id,
    install_session_logging,
    session_context,
)
from vani.observability.records import (
    STAGES,
    ErrorRecord,
    ServiceCall,
    ToolCallRecord,
    TurnRecord,
    Usage,
)
from vani.observability.report import ReportCallback, SessionReportWriter, build_report
from vani.observability.tracing import OpenTelemetryTracer, tracing_available
from vani.pipeline.task import PipelineTask

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from vani.observability.prometheus import LoopMonitor as LoopMonitor
    from vani.observability.prometheus import VaniMetrics as VaniMetrics

__all__ = [
    "STAGES",
    "ErrorRecord",
    "LoopMonitor",
    "MetricsAggregator",
    "OpenTelemetryTracer",
    "ServiceCall",
    "SessionIdFilter",
    "SessionListener",
    "SessionLoggerAdapter",
    "SessionReportWriter",
    "ToolCallRecord",
    "TurnRecord",
    "Usage",
    "VaniMetrics",
    "build_report",
    "current_session_id",
    "install_session_logging",
    "observe",
    "service_role",
    "session_context",
    "tracing_available",
]

_LAZY = {
    "VaniMetrics": "vani.observability.prometheus",
    "LoopMonitor": "vani.observability.prometheus",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vani.observability' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def observe(
    task: PipelineTask,
    *,
    session_id: str | None = None,
    report_dir: str | None = None,
    report_callback: ReportCallback | None = None,
    facts: Mapping[str, object] | None = None,
    metrics: VaniMetrics | None = None,
    tracing: bool | None = None,
    tracer_provider: TracerProvider | None = None,
    traceparent: str | None = None,
    clock: Callable[[], float] | None = None,
    listeners: Sequence[SessionListener] = (),
    max_turns: int = 1000,
    record: bool = False,
) -> MetricsAggregator:
    """Watch ``task``'s call and return its :class:`MetricsAggregator`.

    Turns the task's metrics and usage metrics on (before it runs). ``report_dir`` /
    ``report_callback``: write / hand over the session report when the call ends.
    ``metrics``: feed this process's Prometheus metrics. ``tracing``: trace the call with
    OpenTelemetry (default: when it is installed). ``record``: write the call's stereo WAV
    beside the report (``report_dir`` needed) and name it in the report. The aggregator
    finishes when the task does.
    """
    params = task.params
    params.enable_metrics = True
    params.enable_usage_metrics = True
    attached: list[SessionListener] = []
    if metrics is not None:
        attached.append(metrics.session_listener())
    if tracing is None:
        tracing = tracer_provider is not None or tracing_available()
    if tracing:
        attrs: dict[str, str | bool | int | float] = {}
        for key, value in (facts or {}).items():
            if isinstance(value, str | bool | int | float):
                attrs[f"vani.call.{key}"] = value
        attached.append(
            OpenTelemetryTracer(
                tracer_provider=tracer_provider, traceparent=traceparent, attributes=attrs
            )
        )
    recorder = None
    if record:
        if report_dir is None:
            raise ConfigurationError("record=True needs a report_dir to write the recording to")
        from vani.observability.recording import CallRecorder

        recorder = CallRecorder(report_dir)
        attached.append(recorder)  # before the report, which names the file
    if report_dir is not None or report_callback is not None:
        attached.append(SessionReportWriter(report_dir, callback=report_callback, facts=facts))
    attached.extend(listeners)
    aggregator = MetricsAggregator(
        session_id=session_id, listeners=attached, clock=clock, max_turns=max_turns
    )
    task.add_observer(aggregator)
    if recorder is not None:
        task.add_observer(recorder)

    async def on_finished(_task: PipelineTask, frame: Frame) -> None:
        await aggregator.finish(getattr(frame, "reason", None))

    task.add_event_handler("on_pipeline_finished", on_finished)
    return aggregator
