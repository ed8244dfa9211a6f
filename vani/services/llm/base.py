"""LLMService: the frame handling, tool-call orchestration and interruption logic every LLM
service shares. A concrete service only streams one response (:meth:`LLMService._stream`).

What a service does with frames:

* ``LLMContextFrame`` (adopts that context), ``LLMRunFrame``, and ``LLMMessagesAppendFrame`` /
  ``LLMMessagesUpdateFrame`` with ``run_llm=True`` run the LLM; ``LLMSetToolsFrame`` and
  ``LLMSetToolChoiceFrame`` change the context. These frames are consumed; everything else is
  passed on.
* Each LLM run pushes ``LLMFullResponseStartFrame``, one ``LLMTextFrame`` per streamed token
  (a service may join tokens it read together into one: ``docs/services.md``) and
  ``LLMFullResponseEndFrame`` (with the server's ``finish_reason``) downstream, plus
  ``MetricsFrame`` s (time to first token, usage) when metrics are enabled. The reply is written
  into the context (see ``LLMContext``).
* A reply the server cut off (``finish_reason`` ``length`` or ``content_filter``) is logged as a
  warning, reported as ``LLMTruncationMetricsData`` (always, metrics on or off) and through the
  ``on_response_truncated`` event (``handler(service, finish_reason, text)``). Its text enters
  the context as it stands; tool calls it started are dropped (their arguments may be cut in the
  middle), so the context stays valid for the next request.
* When the reply asks for tools: ``FunctionCallsStartedFrame``, then one
  ``FunctionCallInProgressFrame`` per call; the calls run concurrently; each ends with a
  ``FunctionCallResultFrame`` (preceded by ``FunctionCallDataFrame`` for a data handler, and a
  non-fatal ``ErrorFrame`` upstream for a failure) in call order, or a
  ``FunctionCallCancelFrame``. Then the LLM runs once more with every result. At most
  ``max_tool_rounds`` rounds run; the next run is made with ``tool_choice="none"``.

On ``InterruptionFrame`` (``docs/concepts.md``, the interruption contract): the running stream
is closed (the base class cancels the in-flight run), no token of it is pushed afterwards;
running calls registered with ``cancel_on_interruption=True`` are cancelled and their tool
message says so; the others finish, their results enter the context, and the LLM is not run for
them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from vani.errors import AuthenticationError, ConfigurationError, RateLimitError
from vani.frames import (
    Frame,
    FrameDirection,
    FunctionCallCancelFrame,
    FunctionCallDataFrame,
    FunctionCallFromLLM,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    FunctionCallsStartedFrame,
    InputAudioRawFrame,
    InterruptionFrame,
    JSONValue,
    LLMConfigureOutputFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMMessagesAppendFrame,
    LLMMessagesUpdateFrame,
    LLMRunFrame,
    LLMSetToolChoiceFrame,
    LLMSetToolsFrame,
    LLMTextFrame,
    LLMTruncationMetricsData,
    LLMUpdateSettingsFrame,
    LLMUsageMetricsData,
    MetricsFrame,
    TTFBMetricsData,
)
from vani.processors import FrameProcessor
from vani.processors.aggregators.llm_context import LLMContext
from vani.services.llm.functions import (
    CANCELLED_CONTENT,
    CallOutcome,
    FunctionCallHandler,
    RegisteredFunction,
    error_content,
    invoke,
    parse_direct_function,
)

__all__ = ["LLMEvent", "LLMFinish", "LLMService", "LLMTextChunk", "LLMToolCalls", "LLMUsage"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LLMTextChunk:
    """A piece of streamed text (one token or a few)."""

    text: str


@dataclass(frozen=True, slots=True)
class LLMToolCalls:
    """Complete tool calls of the response, in the order the LLM made them."""

    calls: tuple[FunctionCallFromLLM, ...]


@dataclass(frozen=True, slots=True)
class LLMUsage:
    """Token counts of the response."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class LLMFinish:
    """Why the server ended the response (its ``finish_reason``).

    The response's last event but usage. A response without tool calls ends when it arrives
    (the context written, ``LLMFullResponseEndFrame`` pushed), and the rest of the stream is
    read after; a failure in that rest is logged, not reported. Tool calls run once the stream
    has ended.
    """

    reason: str


LLMEvent = LLMTextChunk | LLMToolCalls | LLMUsage | LLMFinish


@dataclass(slots=True, eq=False)
class _RunningCall:
    call: FunctionCallFromLLM
    registered: RegisteredFunction | None
    context: LLMContext
    task: asyncio.Task[object] | None = None
    outcome: CallOutcome | None = None
    detached: bool = False  # its LLM run was interrupted: it reports itself when done
    reported: bool = False

    @property
    def cancel_on_interruption(self) -> bool:
        return self.registered is None or self.registered.cancel_on_interruption


class LLMService(FrameProcessor):
    """Base of every LLM service (see the module docstring for the frames it handles).

    ``model`` names the model in metrics. ``max_tool_rounds`` caps how many rounds of tool calls
    one user turn may trigger. Subclasses implement :meth:`_stream`.
    """

    # The openai SDK (httpx/anyio) binds locks and cancel scopes to the task that took them:
    # every call runs wholly in this processor's own task.
    run_inline = False
    # The caller's audio only passes by: it need not wake the service's task each frame.
    inline_frame_types: ClassVar[tuple[type[Frame], ...]] = (InputAudioRawFrame,)

    def __init__(self, *, model: str = "", max_tool_rounds: int = 5, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        if max_tool_rounds < 0:
            raise ConfigurationError(f"expected max_tool_rounds >= 0, got {max_tool_rounds}")
        self._model = model
        self._max_tool_rounds = max_tool_rounds
        self._functions: dict[str | None, RegisteredFunction] = {}
        self._context: LLMContext | None = None
        self._generation = 0
        self._calls: dict[str, _RunningCall] = {}
        # Set by LLMConfigureOutputFrame: text of the responses after it is not to be spoken.
        self._skip_tts = False
        self._settings: dict[str, JSONValue] = {}
        self._register_event_handler("on_response_truncated")

    # -- public API ----------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        return self._model

    @property
    def context(self) -> LLMContext:
        """The context of the last run (a fresh empty one before any)."""
        if self._context is None:
            self._context = LLMContext()
        return self._context

    @property
    def settings(self) -> dict[str, JSONValue]:
        """What requests are made with: ``model`` plus what :meth:`update_settings` set."""
        return {"model": self._model, **self._settings}

    def update_settings(self, settings: Mapping[str, JSONValue]) -> None:
        """Change settings for the next requests (an agent handoff does): ``model`` here,
        ``temperature`` and others in services that send them (:meth:`_apply_settings`). Also
        reachable in order with the frames as ``LLMUpdateSettingsFrame``."""
        for key, value in settings.items():
            if key == "model":
                if not isinstance(value, str) or not value:
                    raise ConfigurationError(f"expected a model name, got {value!r}")
                self._model = value
            else:
                self._settings[key] = value
        self._apply_settings(settings)

    def _apply_settings(self, settings: Mapping[str, JSONValue]) -> None:
        """Hook for subclasses: read the keys they send with each request."""

    def register_function(
        self,
        name: str | None,
        handler: FunctionCallHandler,
        *,
        cancel_on_interruption: bool = True,
        timeout_secs: float | None = None,
    ) -> None:
        """Run ``handler`` when the LLM calls ``name`` (None: any function without its own).

        ``cancel_on_interruption=False`` lets the call finish after a barge-in (its result then
        enters the context without running the LLM). ``timeout_secs`` bounds the handler; past
        it the LLM gets an error result.
        """
        if timeout_secs is not None and timeout_secs <= 0:
            raise ConfigurationError(f"expected timeout_secs > 0 or None, got {timeout_secs}")
        self._functions[name] = RegisteredFunction(
            name, handler, cancel_on_interruption, timeout_secs
        )

    def register_direct_function(
        self,
        fn: Callable[..., Awaitable[object]],
        *,
        cancel_on_interruption: bool = True,
        timeout_secs: float | None = None,
    ) -> None:
        """Register ``async def name(params, **arguments)`` under its own name; describe it to
        the LLM with ``FunctionSchema.from_function(fn)`` or by passing ``fn`` in the tools."""
        self.register_function(
            fn.__name__,
            parse_direct_function(fn),
            cancel_on_interruption=cancel_on_interruption,
            timeout_secs=timeout_secs,
        )

    def unregister_function(self, name: str | None) -> None:
        self._functions.pop(name, None)

    def has_function(self, name: str) -> bool:
        return name in self._functions or None in self._functions

    @property
    def function_calls_in_progress(self) -> list[FunctionCallFromLLM]:
        """Calls that are still running (including ones that outlived an interruption)."""
        return [r.call for r in self._calls.values()]

    async def run_inference(self, context: LLMContext) -> str:
        """Run the LLM once on ``context``, out of band, and return its text (Pipecat's name).

        Nothing is pushed, nothing is written to ``context``, and tools are not called
        (``tool_choice="none"``). For summaries and classifications beside the conversation.
        Raises the service's ``ServiceError`` on failure.
        """
        parts: list[str] = []
        stream = self._stream(context, "none")
        try:
            async for event in stream:
                if isinstance(event, LLMTextChunk):
                    parts.append(event.text)
        finally:
            await stream.aclose()
        return "".join(parts)

    # -- what subclasses implement -------------------------------------------------------------

    def _stream(
        self, context: LLMContext, tool_choice: JSONValue
    ) -> AsyncGenerator[LLMEvent, None]:
        """Stream one response to ``context``. ``tool_choice`` overrides the context's when not
        None. Raise ``ServiceError`` subclasses for failures (``AuthenticationError`` and a
        non-retryable ``RateLimitError`` are fatal). Closing the iterator must close the
        connection at once."""
        raise NotImplementedError

    def _send_early(self, context: LLMContext, tool_choice: JSONValue) -> Callable[[], None] | None:
        """Optional: send the request for the next :meth:`_stream` call now, before the
        response's start frame is pushed, so the server works while the frame's downstream
        work (the client's event, the aggregators) runs. Returns how to give it up should
        ``_stream`` never come; None when nothing was sent."""
        return None

    # -- frames --------------------------------------------------------------------------------

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            self._context = frame.context
            await self._run(frame.context)
        elif isinstance(frame, LLMRunFrame):
            await self._run(self.context)
        elif isinstance(frame, LLMMessagesAppendFrame):
            self.context.add_messages(frame.messages)
            if frame.run_llm:
                await self._run(self.context)
        elif isinstance(frame, LLMMessagesUpdateFrame):
            self.context.set_messages(frame.messages)
            if frame.run_llm:
                await self._run(self.context)
        elif isinstance(frame, LLMSetToolsFrame):
            self.context.set_tools(frame.tools)
        elif isinstance(frame, LLMUpdateSettingsFrame):
            self.update_settings(frame.settings)
        elif isinstance(frame, LLMSetToolChoiceFrame):
            self.context.set_tool_choice(frame.tool_choice)
        elif isinstance(frame, LLMConfigureOutputFrame):
            self._skip_tts = frame.skip_tts
            await self.push_frame(frame, direction)
        elif isinstance(frame, InterruptionFrame):
            await self._interrupted()
            await self.push_frame(frame, direction)
        else:
            await self.push_frame(frame, direction)

    # -- one user turn: responses and tool rounds ----------------------------------------------

    async def _run(self, context: LLMContext) -> None:
        # The run lives in a task of its own: HTTP clients built on anyio (the openai SDK)
        # hold task-bound locks and cancel scopes, while a process_frame call may move from
        # the pusher's task to the processor's runner at its first suspension. Awaiting the
        # task keeps the lane semantics: an interruption cancels this call, which cancels it.
        await self.create_task(self._run_turn(context), "llm-run")

    async def _run_turn(self, context: LLMContext) -> None:
        rounds = 0
        tool_choice: JSONValue = None
        while True:
            calls = await self._generate(context, tool_choice)
            if not calls:
                return
            if rounds >= self._max_tool_rounds:
                await self._refuse(context, calls)
                return
            rounds += 1
            if not await self._execute(context, calls):
                return
            if rounds >= self._max_tool_rounds:
                tool_choice = "none"

    async def _generate(
        self, context: LLMContext, tool_choice: JSONValue
    ) -> list[FunctionCallFromLLM]:
        """Stream one response downstream; return its tool calls (none after a failure)."""
        generation = self._generation
        start = LLMFullResponseStartFrame()
        context.begin_response(start.id)
        abandon = self._send_early(context, tool_choice)
        try:
            await self.push_frame(start)
        except BaseException:
            if abandon is not None:
                abandon()
            raise
        text: list[str] = []
        calls: list[FunctionCallFromLLM] = []
        # Set once the response has ended (LLMFinish): what the stream yields after it is its
        # transport's tail, read so a connection can be reused.
        ended = False
        finish_reason: str | None = None
        started = time.monotonic()
        first = True
        stream = self._stream(context, tool_choice)
        try:
            async for event in stream:
                if ended:
                    if isinstance(event, LLMUsage):
                        await self._push_usage(event)
                    continue
                if generation != self._generation:
                    break  # interrupted: nothing more of this response may go out
                ttfb = None
                if first:
                    first = False
                    ttfb = time.monotonic() - started
                if isinstance(event, LLMTextChunk):
                    if event.text:
                        text.append(event.text)
                        await self.push_frame(
                            LLMTextFrame(text=event.text, skip_tts=self._skip_tts)
                        )
                elif isinstance(event, LLMToolCalls):
                    calls.extend(event.calls)
                elif isinstance(event, LLMFinish):
                    finish_reason = event.reason
                    if not calls:
                        # A whole reply: the TTS speaks its last sentence now, not after the
                        # provider has read the rest of its stream. (Tool calls wait for the
                        # stream's end as before: until they run, an interruption must be
                        # able to drop them from the context.)
                        ended = True
                        await self._end_response(context, start, text, calls, finish_reason)
                else:
                    await self._push_usage(event)
                if ttfb is not None:
                    # After the first token: the reply waits on it, not on the metric.
                    await self._push_ttfb(ttfb)
        except asyncio.CancelledError:
            if not ended:
                context.write_response(start.id, "".join(text), ())
            raise
        except Exception as exc:
            if ended:
                # The reply reached the pipeline whole; only the stream's tail broke.
                logger.info("%s: the LLM stream failed after its end: %s", self, exc)
                return []
            # Failed mid-way or before the first token: end the response cleanly, keep what
            # was said, drop half-streamed tool calls, and tell the pipeline.
            context.write_response(start.id, "".join(text), ())
            await self.push_frame(LLMFullResponseEndFrame())
            fatal = isinstance(exc, AuthenticationError) or (
                isinstance(exc, RateLimitError) and not exc.retryable
            )
            logger.warning("%s: LLM response failed: %s", self, exc)
            await self.push_error(f"{self.name}: {exc}", exception=exc, fatal=fatal)
            return []
        finally:
            await stream.aclose()
        if ended:
            return []
        if generation != self._generation:
            context.write_response(start.id, "".join(text), ())
            return []
        return await self._end_response(context, start, text, calls, finish_reason)

    async def _end_response(
        self,
        context: LLMContext,
        start: LLMFullResponseStartFrame,
        text: list[str],
        calls: list[FunctionCallFromLLM],
        finish_reason: str | None,
    ) -> list[FunctionCallFromLLM]:
        """Write a whole response into the context and push its end; returns its tool calls
        (none when it was cut off)."""
        end = LLMFullResponseEndFrame(finish_reason=finish_reason)
        if end.truncated:
            calls = []
            await self._report_truncation(end, "".join(text))
        context.write_response(start.id, "".join(text), calls)
        await self.push_frame(end)
        return calls

    async def _report_truncation(self, end: LLMFullResponseEndFrame, text: str) -> None:
        reason = end.finish_reason or ""
        logger.warning(
            "%s: the LLM reply was cut off (finish_reason=%s) after %d characters",
            self,
            reason,
            len(text),
        )
        data = LLMTruncationMetricsData(
            processor=self.name, model=self._model or None, finish_reason=reason
        )
        await self.push_frame(MetricsFrame(data=[data]))
        await self._call_event_handler("on_response_truncated", reason, text)

    async def _execute(self, context: LLMContext, calls: list[FunctionCallFromLLM]) -> bool:
        """Run one round of calls concurrently; report them in call order. True: run the LLM."""
        await self.push_frame(FunctionCallsStartedFrame(function_calls=tuple(calls)))
        records: list[_RunningCall] = []
        for call in calls:
            registered = self._functions.get(call.function_name) or self._functions.get(None)
            record = _RunningCall(call, registered, context)
            records.append(record)
            await self.push_frame(
                FunctionCallInProgressFrame(
                    function_name=call.function_name,
                    tool_call_id=call.tool_call_id,
                    arguments=call.arguments,
                    cancel_on_interruption=record.cancel_on_interruption,
                )
            )
        for record in records:
            self._calls[record.call.tool_call_id] = record
            record.task = self.create_task(
                self._run_call(record), f"function:{record.call.function_name}"
            )
        # If this run is interrupted, the wait is cancelled but the calls are not:
        # _interrupted() decides their fate.
        await asyncio.wait([r.task for r in records if r.task is not None])
        run_llm = False
        for record in records:
            await self._report_call(record)
            outcome = record.outcome
            if outcome is not None and outcome.run_llm is not False:
                run_llm = True
        return run_llm

    async def _run_call(self, record: _RunningCall) -> None:
        available = [name for name in self._functions if name is not None]
        outcome = await invoke(record.call, record.registered, self, record.context, available)
        record.outcome = outcome
        record.context.set_tool_result(record.call.tool_call_id, outcome.content)
        if record.detached:
            await self._report_call(record)

    async def _report_call(self, record: _RunningCall) -> None:
        """Push the frames of a finished call (once)."""
        outcome = record.outcome
        if record.reported or outcome is None:
            return
        record.reported = True
        call = record.call
        if self._calls.get(call.tool_call_id) is record:
            del self._calls[call.tool_call_id]
        if outcome.error is not None:
            await self.push_error(
                f"{self.name}: {outcome.error}", exception=outcome.error, fatal=False
            )
        if outcome.has_data:
            await self.push_frame(
                FunctionCallDataFrame(
                    function_name=call.function_name,
                    tool_call_id=call.tool_call_id,
                    data=outcome.data,
                )
            )
        await self.push_frame(
            FunctionCallResultFrame(
                function_name=call.function_name,
                tool_call_id=call.tool_call_id,
                arguments=call.arguments,
                result=outcome.content,
                run_llm=False if record.detached else outcome.run_llm,
            )
        )

    async def _refuse(self, context: LLMContext, calls: list[FunctionCallFromLLM]) -> None:
        """Past the tool-round cap: answer every call with an error and stop."""
        message = (
            f"tool call limit reached ({self._max_tool_rounds} rounds in one turn);"
            " answer the user without calling tools"
        )
        for call in calls:
            context.set_tool_result(call.tool_call_id, error_content(message))
        await self.push_error(f"{self.name}: {message}", fatal=False)

    async def _interrupted(self) -> None:
        self._generation += 1
        for record in list(self._calls.values()):
            record.detached = True
            if record.outcome is not None:
                await self._report_call(record)  # finished before the barge-in: keep it
            elif record.cancel_on_interruption:
                if record.task is not None:
                    record.task.cancel()
                del self._calls[record.call.tool_call_id]
                record.context.set_tool_result(record.call.tool_call_id, CANCELLED_CONTENT)
                await self.push_frame(
                    FunctionCallCancelFrame(
                        function_name=record.call.function_name,
                        tool_call_id=record.call.tool_call_id,
                    )
                )

    # -- metrics ---------------------------------------------------------------------------------

    async def _push_ttfb(self, seconds: float) -> None:
        if self.metrics_enabled:
            data = TTFBMetricsData(processor=self.name, model=self._model or None, value=seconds)
            await self.push_frame(MetricsFrame(data=[data]))

    async def _push_usage(self, usage: LLMUsage) -> None:
        if self.usage_metrics_enabled:
            data = LLMUsageMetricsData(
                processor=self.name,
                model=self._model or None,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                total_tokens=usage.total_tokens,
                cached_tokens=usage.cached_tokens,
            )
            await self.push_frame(MetricsFrame(data=[data]))
