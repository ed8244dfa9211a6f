"""Function calling: handler registry, the parameters a handler gets, and result handling.

Two kinds of handler (both ``async def handler(params: FunctionCallParams)``):

* a **simple** handler returns a string or a JSON-able value; it becomes the tool message;
* a **data** handler returns :class:`ToolResult` ``(summary=..., data=...)``: only ``summary``
  enters the LLM context, while ``data`` goes downstream as a ``FunctionCallDataFrame`` (for a
  UI or logs) and never reaches any LLM request.

Pipecat-style handlers that call ``await params.result_callback(result)`` and return None work
too, for migration.

Every failure (unknown function, arguments that are not a JSON object, an exception in the
handler, a timeout) becomes an error result the LLM can read, ``{"error": "..."}``; the service
also pushes a non-fatal ``ErrorFrame``. Nothing here raises into the pipeline.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

from vani.errors import (
    FunctionArgumentsError,
    FunctionCallError,
    FunctionCallTimeoutError,
    UnknownFunctionError,
)
from vani.frames import FunctionCallFromLLM, JSONValue

if TYPE_CHECKING:
    from vani.processors.aggregators.llm_context import LLMContext
    from vani.services.llm.base import LLMService

__all__ = [
    "FunctionCallHandler",
    "FunctionCallParams",
    "FunctionCallResultCallback",
    "FunctionCallResultProperties",
    "RegisteredFunction",
    "ToolResult",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a data handler returns: ``summary`` for the LLM, ``data`` for downstream only.

    ``run_llm=False`` stops the LLM from running after this round of calls (it runs when any
    call of the round asks for it, which is the default).
    """

    summary: JSONValue
    data: JSONValue = None
    run_llm: bool | None = None


@dataclass(frozen=True, slots=True)
class FunctionCallResultProperties:
    """Options of a Pipecat-style ``result_callback`` (``run_llm`` as in :class:`ToolResult`)."""

    run_llm: bool | None = None


class FunctionCallResultCallback:
    """``await params.result_callback(result, properties=...)``: the first call wins."""

    __slots__ = ("called", "properties", "result")

    def __init__(self) -> None:
        self.called = False
        self.result: JSONValue | ToolResult = None
        self.properties: FunctionCallResultProperties | None = None

    async def __call__(
        self,
        result: JSONValue | ToolResult,
        *,
        properties: FunctionCallResultProperties | None = None,
    ) -> None:
        if self.called:
            logger.warning("result_callback called more than once; keeping the first result")
            return
        self.called, self.result, self.properties = True, result, properties


@dataclass(slots=True)
class FunctionCallParams:
    """What a handler receives for one tool call.

    ``arguments`` is the parsed JSON object; ``raw_arguments`` the string the LLM sent.
    ``context`` is the live conversation (a handler may change tools or messages for the next
    LLM run, which is how Dhara moves between nodes). ``llm`` is the service running the call.
    ``result_callback`` is for Pipecat-style handlers; returning the result is preferred.
    """

    function_name: str
    tool_call_id: str
    arguments: dict[str, JSONValue]
    llm: LLMService
    context: LLMContext
    result_callback: FunctionCallResultCallback = field(default_factory=FunctionCallResultCallback)
    raw_arguments: str = ""


FunctionCallHandler: TypeAlias = Callable[[FunctionCallParams], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class RegisteredFunction:
    """A handler and how it is run. ``name`` None catches every function without its own."""

    name: str | None
    handler: FunctionCallHandler
    cancel_on_interruption: bool = True
    timeout_secs: float | None = None


@dataclass(slots=True)
class CallOutcome:
    """What one call produced: the tool message ``content`` and, for data handlers, ``data``."""

    content: str
    data: JSONValue = None
    has_data: bool = False
    run_llm: bool | None = None
    error: FunctionCallError | None = None


def error_content(message: str) -> str:
    """The tool message of a failed call: a JSON object the LLM can read."""
    return json.dumps({"error": message}, ensure_ascii=False)


CANCELLED_CONTENT = json.dumps(
    {"error": "cancelled: the user interrupted before this call finished; it had no effect"}
)


def _to_content(value: JSONValue) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


async def invoke(
    call: FunctionCallFromLLM,
    registered: RegisteredFunction | None,
    llm: LLMService,
    context: LLMContext,
    available: list[str],
) -> CallOutcome:
    """Run one call to completion and turn whatever happens into a :class:`CallOutcome`.

    Raises only ``CancelledError`` (when the call itself is cancelled).
    """
    name = call.function_name
    if registered is None:
        error: FunctionCallError = UnknownFunctionError(
            f"unknown function {name!r}; expected one of {sorted(available)}"
        )
        return CallOutcome(error_content(str(error)), error=error)
    try:
        parsed = json.loads(call.arguments) if call.arguments.strip() else {}
    except json.JSONDecodeError as exc:
        error = FunctionArgumentsError(
            f"invalid JSON arguments for {name!r}: {exc.msg} at position {exc.pos};"
            " expected a JSON object"
        )
        return CallOutcome(error_content(str(error)), error=error)
    if not isinstance(parsed, dict):
        error = FunctionArgumentsError(
            f"expected a JSON object as the arguments of {name!r}, got {type(parsed).__name__}"
        )
        return CallOutcome(error_content(str(error)), error=error)

    params = FunctionCallParams(
        function_name=name,
        tool_call_id=call.tool_call_id,
        arguments=parsed,
        llm=llm,
        context=context,
        raw_arguments=call.arguments,
    )
    try:
        async with asyncio.timeout(registered.timeout_secs):
            returned = await registered.handler(params)
    except TimeoutError:
        error = FunctionCallTimeoutError(
            f"function {name!r} timed out after {registered.timeout_secs} s"
        )
        return CallOutcome(error_content(str(error)), error=error)
    except Exception as exc:
        logger.exception("function %r (%s) raised", name, call.tool_call_id)
        error = FunctionCallError(f"function {name!r} failed: {type(exc).__name__}: {exc}")
        error.__cause__ = exc
        return CallOutcome(error_content(str(error)), error=error)

    run_llm: bool | None = None
    result: object = returned
    if returned is None and params.result_callback.called:
        result = params.result_callback.result
        if params.result_callback.properties is not None:
            run_llm = params.result_callback.properties.run_llm
    if inspect.isawaitable(result):  # a handler that returned a coroutine by mistake
        result = await result
    try:
        if isinstance(result, ToolResult):
            return CallOutcome(
                _to_content(result.summary),
                data=result.data,
                has_data=True,
                run_llm=result.run_llm if result.run_llm is not None else run_llm,
            )
        return CallOutcome(_to_content(result), run_llm=run_llm)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        error = FunctionCallError(
            f"function {name!r} returned {type(result).__name__}, which is not JSON-able: {exc}"
        )
        return CallOutcome(error_content(str(error)), error=error)


def parse_direct_function(fn: Callable[..., Awaitable[object]]) -> FunctionCallHandler:
    """Wrap ``async def f(params, **arguments)`` as a handler that spreads the arguments."""

    async def handler(params: FunctionCallParams) -> object:
        return await fn(params, **params.arguments)

    handler.__name__ = getattr(fn, "__name__", "direct_function")
    return handler
