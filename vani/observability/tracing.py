"""OpenTelemetry traces of a call (extra ``vani[otel]``; docs/observability.md).

:class:`OpenTelemetryTracer` is a :class:`~vani.observability.aggregator.SessionListener`: one
trace per call, with a ``vani.session`` span for the call, a ``vani.turn`` span per turn under
it, and under each turn one span per service request (``vani.stt``, ``vani.llm`` with the model
and token counts, ``vani.tts`` with the characters) and per tool call (``vani.tool``). Spans are
built from the aggregator's records when each turn ends, with the real start and end times, so
tracing costs a few calls per turn and nothing per frame.

``opentelemetry`` is imported only when a tracer is built: without the extra installed, vani
never loads it (and :func:`tracing_available` says False).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import TYPE_CHECKING

from vani.errors import ConfigurationError
from vani.observability.aggregator import MetricsAggregator, SessionListener
from vani.observability.records import ServiceCall, ToolCallRecord, TurnRecord

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer, TracerProvider

__all__ = ["OpenTelemetryTracer", "tracing_available", "tracing_configured"]

_Attr = str | bool | int | float


def tracing_available() -> bool:
    """True when the OpenTelemetry API is installed (``pip install 'vani[otel]'``)."""
    return importlib.util.find_spec("opentelemetry") is not None


def tracing_configured() -> bool:
    """True when OpenTelemetry is installed and the application set a tracer provider (the
    SDK's, or ``opentelemetry-instrument``'s): then a server traces its calls by default."""
    if not tracing_available():
        return False
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


class OpenTelemetryTracer(SessionListener):
    """Traces one call (see the module docstring).

    ``tracer_provider``: where spans go (default: the global provider the application set up
    with the OpenTelemetry SDK). ``traceparent``: a W3C ``traceparent`` header value; the
    call's trace then continues the caller's (e.g. the HTTP request that started it).
    ``attributes``: added to the session span (``vani.transport``, custom call facts...).
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        traceparent: str | None = None,
        attributes: Mapping[str, _Attr] | None = None,
    ) -> None:
        if not tracing_available():
            raise ConfigurationError(
                "tracing needs OpenTelemetry: install it with pip install 'vani[otel]'"
            )
        from opentelemetry import trace

        self._trace = trace
        provider = tracer_provider or trace.get_tracer_provider()
        self._tracer: Tracer = provider.get_tracer("vani")
        self._parent: Context | None = None
        if traceparent:
            from opentelemetry.propagate import extract

            self._parent = extract({"traceparent": traceparent})
        self._attributes = dict(attributes or {})
        self._session: Span | None = None
        self._session_ctx: Context | None = None

    @property
    def session_span(self) -> Span | None:
        return self._session

    def on_session_start(self, session: MetricsAggregator) -> None:
        attributes: dict[str, _Attr] = {"vani.session_id": session.session_id}
        attributes.update(self._attributes)
        span = self._tracer.start_span(
            "vani.session",
            context=self._parent,
            attributes=attributes,
            start_time=session.epoch_ns(0.0),
        )
        self._session = span
        self._session_ctx = self._trace.set_span_in_context(span)

    def on_turn_end(self, session: MetricsAggregator, turn: TurnRecord) -> None:
        if self._session is None:
            self.on_session_start(session)
        end = turn.ended if turn.ended is not None else session.now()
        attributes: dict[str, _Attr] = {
            "vani.turn.index": turn.index,
            "vani.turn.interrupted": turn.interrupted,
            "vani.turn.user_transcript": turn.transcript,
            "vani.turn.bot_text": turn.bot_text,
        }
        for stage, value in turn.latencies.items():
            attributes[f"vani.latency.{stage}_ms"] = round(value * 1000, 2)
        usage = turn.usage
        if usage.total_tokens:
            attributes["gen_ai.usage.input_tokens"] = usage.prompt_tokens
            attributes["gen_ai.usage.output_tokens"] = usage.completion_tokens
        if usage.tts_characters:
            attributes["vani.tts.characters"] = usage.tts_characters
        if usage.stt_seconds:
            attributes["vani.stt.audio_seconds"] = round(usage.stt_seconds, 3)
        span = self._tracer.start_span(
            "vani.turn",
            context=self._session_ctx,
            attributes=attributes,
            start_time=session.epoch_ns(turn.started),
        )
        ctx = self._trace.set_span_in_context(span)
        for call in turn.calls:
            self._service_span(session, ctx, call, end)
        for tool in turn.tool_calls:
            self._tool_span(session, ctx, tool, end)
        for error in turn.errors:
            span.add_event(
                "vani.error",
                {"vani.service": error.service, "vani.error": error.error, "fatal": error.fatal},
                timestamp=session.epoch_ns(error.time),
            )
        if turn.errors:
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, turn.errors[0].error))
        span.end(end_time=session.epoch_ns(max(end, turn.started)))

    def _service_span(
        self, session: MetricsAggregator, ctx: Context, call: ServiceCall, end: float
    ) -> None:
        attributes: dict[str, _Attr] = {"vani.service": call.role, "vani.processor": call.processor}
        if call.model:
            attributes["gen_ai.request.model" if call.role == "llm" else "vani.model"] = call.model
        if call.ttfb is not None:
            attributes["vani.ttfb_ms"] = round(call.ttfb * 1000, 2)
        if call.role == "llm":
            attributes["gen_ai.operation.name"] = "chat"
            attributes["gen_ai.usage.input_tokens"] = call.prompt_tokens
            attributes["gen_ai.usage.output_tokens"] = call.completion_tokens
        elif call.role == "tts":
            attributes["vani.tts.characters"] = call.characters
        elif call.role == "stt":
            attributes["vani.stt.audio_seconds"] = round(call.audio_seconds, 3)
            attributes["vani.stt.transcript"] = call.text
        if call.cancelled:
            attributes["vani.cancelled"] = True
        span = self._tracer.start_span(
            f"vani.{call.role}",
            context=ctx,
            attributes=attributes,
            start_time=session.epoch_ns(call.started),
        )
        stop = call.ended if call.ended is not None else end
        span.end(end_time=session.epoch_ns(max(stop, call.started)))

    def _tool_span(
        self, session: MetricsAggregator, ctx: Context, tool: ToolCallRecord, end: float
    ) -> None:
        attributes: dict[str, _Attr] = {
            "gen_ai.tool.name": tool.function_name,
            "gen_ai.tool.call.id": tool.tool_call_id,
            "vani.tool.arguments": tool.arguments,
            "vani.cancelled": tool.cancelled,
        }
        span = self._tracer.start_span(
            "vani.tool",
            context=ctx,
            attributes=attributes,
            start_time=session.epoch_ns(tool.started),
        )
        stop = tool.ended if tool.ended is not None else end
        span.end(end_time=session.epoch_ns(max(stop, tool.started)))

    def on_session_end(self, session: MetricsAggregator) -> None:
        if self._session is None:
            self.on_session_start(session)
        span = self._session
        assert span is not None
        totals = session.totals
        span.set_attributes(
            {
                "vani.turns": session.turn_count,
                "vani.interruptions": session.interruptions,
                "vani.errors": len(session.errors),
                "vani.end_reason": session.end_reason or "",
                "gen_ai.usage.input_tokens": totals.prompt_tokens,
                "gen_ai.usage.output_tokens": totals.completion_tokens,
                "vani.tts.characters": totals.tts_characters,
                "vani.stt.audio_seconds": round(totals.stt_seconds, 3),
            }
        )
        if any(e.fatal for e in session.errors):
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, "fatal error"))
        ended = session.ended if session.ended is not None else session.now()
        span.end(end_time=session.epoch_ns(ended))
