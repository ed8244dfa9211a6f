"""The session report: one JSON document per call, written when it ends (docs/observability.md).

:func:`build_report` turns a finished :class:`~vani.observability.aggregator.MetricsAggregator`
into a JSON object: the call's facts, the timeline of turns with their per-stage latencies, a
summary (percentiles per stage, usage, counts), the final LLM context (what the user heard), tool
calls, errors, and the path of the stereo recording when one was made.
:class:`SessionReportWriter` is a :class:`~vani.observability.aggregator.SessionListener` that
writes it to ``<directory>/<session_id>.json`` and/or hands it to a callback.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from vani.errors import ConfigurationError
from vani.frames import JSONObject, JSONValue
from vani.observability.aggregator import MetricsAggregator, SessionListener
from vani.observability.records import STAGES

__all__ = ["REPORT_VERSION", "SessionReportWriter", "build_report", "percentile"]

logger = logging.getLogger(__name__)

REPORT_VERSION = 1

ReportCallback = Callable[[JSONObject], Awaitable[None] | None]

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by linear interpolation; values must be sorted."""
    if not values:
        raise ValueError("percentile of no values")
    pos = (len(values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def _json_safe(value: object) -> JSONValue:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return str(value)


def build_report(
    session: MetricsAggregator, facts: Mapping[str, object] | None = None
) -> JSONObject:
    """The report of a call (see the module docstring); ``facts`` are the caller's own fields
    (transport, remote address, custom parameters...)."""
    turns = list(session.turns)
    stages: JSONObject = {}
    for stage in STAGES:
        values = sorted(t.latencies[stage] for t in turns if stage in t.latencies)
        if values:
            stages[stage] = {
                "count": len(values),
                "p50_ms": round(percentile(values, 0.5) * 1000, 1),
                "p95_ms": round(percentile(values, 0.95) * 1000, 1),
                "max_ms": round(values[-1] * 1000, 1),
            }
    duration = session.ended if session.ended is not None else session.now()
    context: list[JSONValue] = []
    if session.context is not None:
        context = [_json_safe(m) for m in session.context.messages]
    return {
        "version": REPORT_VERSION,
        "session_id": session.session_id,
        "started_at": _iso(session.started_wall),
        "ended_at": _iso(session.started_wall + duration),
        "duration_secs": round(duration, 3),
        "end_reason": session.end_reason,
        "facts": {str(k): _json_safe(v) for k, v in (facts or {}).items()},
        "summary": {
            "turns": session.turn_count,
            "turns_in_report": len(turns),
            "turns_dropped": session.turns_dropped,
            "interruptions": session.interruptions,
            "tool_calls": len(session.tool_calls),
            "errors": len(session.errors),
            "errors_by_service": dict(session.errors_by_service),
            "latency": stages,
        },
        "usage": session.totals.to_json(),
        "turns": [t.to_json() for t in turns],
        "context": context,
        "tool_calls": [t.to_json() for t in session.tool_calls],
        "errors": [e.to_json() for e in session.errors],
        "recording": session.recording_path,
    }


class SessionReportWriter(SessionListener):
    """Writes each call's report to ``directory`` (``<session_id>.json``, written atomically)
    and/or passes it to ``callback`` (a function or coroutine function taking the JSON object).

    ``facts``: fields added under ``"facts"`` (the server passes the call's transport, peer
    and custom parameters). :attr:`last_report` keeps the latest report.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        callback: ReportCallback | None = None,
        facts: Mapping[str, object] | None = None,
    ) -> None:
        if directory is None and callback is None:
            raise ConfigurationError("expected a report directory or a callback, got neither")
        self.directory = Path(directory) if directory is not None else None
        self.callback = callback
        self.facts: dict[str, object] = dict(facts or {})
        self.last_report: JSONObject | None = None
        self.last_path: Path | None = None

    async def on_session_end(self, session: MetricsAggregator) -> None:
        report = build_report(session, self.facts)
        self.last_report = report
        if self.directory is not None:
            self.last_path = await asyncio.to_thread(self._write, session.session_id, report)
        if self.callback is not None:
            result = self.callback(report)
            if inspect.isawaitable(result):
                await result

    def _write(self, session_id: str, report: JSONObject) -> Path:
        assert self.directory is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        name = _SAFE.sub("_", session_id) or "session"
        path = self.directory / f"{name}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
        logger.info("session report written to %s", path)
        return path
