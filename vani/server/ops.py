"""Operations for the server: per-call observability, ``GET /metrics`` and drain.

See docs/observability.md and docs/deployment.md. :class:`ServerOps` belongs to one
:class:`~vani.server.app.VaniServer` (``server.ops``):

* every call runs under its call id in the logs (:func:`~vani.observability.session_context`),
  and each pipeline task the bot builds with ``session.task()`` gets a
  :class:`~vani.observability.MetricsAggregator` feeding the process's Prometheus metrics, the
  session report (``--report-dir``) and OpenTelemetry traces (when a tracer provider is set);
* ``GET /metrics`` serves the Prometheus exposition (all workers' together when there are
  several);
* :meth:`ServerOps.drain` stops taking calls (``/ready`` answers 503, new sockets are closed
  with 1013), waits for the calls in progress up to the drain timeout, then ends the rest with
  a goodbye (spoken when the pipeline has a TTS) and an ``EndFrame``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from starlette.requests import Request as HTTPRequest
from starlette.responses import Response
from starlette.routing import Route
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request as WSRequest
from websockets.http11 import Response as WSResponse

from vani.observability import MetricsAggregator, observe, session_context
from vani.observability.tracing import tracing_configured
from vani.pipeline.task import PipelineTask

if TYPE_CHECKING:
    from vani.observability.prometheus import LoopMonitor, VaniMetrics
    from vani.server.app import VaniServer
    from vani.server.session import Session

__all__ = ["ServerOps"]

logger = logging.getLogger("vani.server")


class ServerOps:
    """Observability and drain for ``server`` (see the module docstring)."""

    def __init__(self, server: VaniServer) -> None:
        self.server = server
        config = server.config
        self.metrics: VaniMetrics | None = None
        self.monitor: LoopMonitor | None = None
        if config.metrics_enabled:
            from vani.observability.prometheus import VaniMetrics

            self.metrics = VaniMetrics()
            server.app.router.routes.insert(0, Route("/metrics", self._metrics, methods=["GET"]))
        self.sessions: dict[str, Session] = {}
        self.aggregators: dict[str, MetricsAggregator] = {}
        self.draining_since: float | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    # -- metrics -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start sampling event-loop lag and memory (call from the server's loop); with
        ``config.tune_gc``, freeze what start-up created out of the garbage collector's scans
        (see :func:`~vani.observability.prometheus.tune_gc`)."""
        if self.monitor is None:
            from vani.observability.prometheus import LoopMonitor, tune_gc

            if self.server.config.tune_gc:
                tune_gc()
            self.monitor = LoopMonitor(self.metrics, interval=0.1)
            self.monitor.start()

    async def stop(self) -> None:
        if self.monitor is not None:
            await self.monitor.stop()
            self.monitor = None

    async def _metrics(self, request: HTTPRequest) -> Response:
        assert self.metrics is not None
        body, content_type = self.metrics.render()
        return Response(body, media_type=content_type)

    def refused(self, reason: str) -> None:
        """Count a refused call (``server.refuse`` calls this)."""
        if self.metrics is None:
            return
        if reason == "capacity" and self.server.admission.draining:
            reason = "draining"
        if reason.startswith("token"):
            reason = "token"
        self.metrics.calls_refused.labels(reason).inc()

    def handshake_refusal(
        self, connection: ServerConnection, request: WSRequest
    ) -> WSResponse | None:
        """Refuse a WebSocket upgrade that came through a proxy (it has ``X-Forwarded-For``)
        with HTTP 503 while this process takes no calls (draining, or at ``--max-calls``), so
        the load balancer tries another instance (nginx: ``proxy_next_upstream http_503``).
        A direct client is let through the handshake and closed with 1013 instead."""
        if self.server.admission.ready or "X-Forwarded-For" not in request.headers:
            return None
        reason = "draining" if self.server.admission.draining else "capacity"
        self.server.refuse(reason)
        response = connection.respond(503, f"this instance takes no calls now ({reason})\n")
        response.headers["Retry-After"] = "1"
        return response

    # -- calls ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def call(self, session: Session) -> Iterator[None]:
        """Run a call's bot inside this: logs carry the call id, the session is known for
        drain, and every task the bot builds with ``session.task()`` is observed."""
        call_id = session.call.call_id
        self.sessions[call_id] = session
        self._idle.clear()
        session.task_hooks.append(self._observe_task)
        try:
            with session_context(call_id):
                yield
        finally:
            self.sessions.pop(call_id, None)
            self.aggregators.pop(call_id, None)
            if not self.sessions:
                self._idle.set()

    def _observe_task(self, session: Session, task: PipelineTask) -> None:
        config = self.server.config
        call = session.call
        tracing = config.tracing if config.tracing is not None else tracing_configured()
        facts: dict[str, object] = {
            "call_id": call.call_id,
            "client_address": call.client_address,
            "wire_format": call.wire_format,
            "user_agent": call.user_agent,
            "custom_parameters": dict(call.custom_parameters),
            "pid": os.getpid(),
        }
        self.aggregators[call.call_id] = observe(
            task,
            session_id=call.call_id,
            report_dir=config.report_dir,
            facts=facts,
            metrics=self.metrics,
            tracing=tracing,
            traceparent=call.headers.get("traceparent"),
            record=config.record_calls and config.report_dir is not None,
        )

    # -- drain ---------------------------------------------------------------------------------

    @property
    def draining(self) -> bool:
        return self.draining_since is not None

    async def drain(self, timeout_secs: float | None = None) -> None:
        """Stop taking calls, let the current ones finish for up to ``timeout_secs`` (default:
        the configured drain timeout), then end the rest with a goodbye."""
        config = self.server.config
        timeout = config.drain_timeout_secs if timeout_secs is None else timeout_secs
        if self.draining_since is None:
            self.draining_since = time.monotonic()
        self.server.admission.drain()
        active = len(self.sessions)
        logger.info(
            "draining: no new calls; waiting up to %.0f s for %d call(s) in progress",
            timeout,
            active,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        if self.sessions:
            await self.end_calls(config.drain_goodbye)
        logger.info("drained")

    async def end_calls(self, goodbye: str | None, grace_secs: float = 10.0) -> None:
        """End every call: say ``goodbye`` (when the pipeline can speak), then end gracefully;
        after ``grace_secs`` whatever is still running is cancelled."""
        sessions = list(self.sessions.values())
        logger.info("ending %d call(s) still in progress", len(sessions))
        for session in sessions:
            await session.end("server draining", goodbye=goodbye or None)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace_secs)
        for session in list(self.sessions.values()):
            await session.cancel("server draining")
