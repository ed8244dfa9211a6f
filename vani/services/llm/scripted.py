"""ScriptedLLMService: a deterministic LLM for offline runs and for users' own tests.

It emits exactly the frames :class:`~vani.services.openai.OpenAILLMService` emits (it shares
the whole :class:`~vani.services.llm.base.LLMService` machinery: tool calls, interruptions,
context writes, metrics); only the source of the tokens differs. Each LLM run — including the
run after a round of tool results — takes the next scripted turn, or asks the rule function::

    llm = ScriptedLLMService([
        ScriptedTurn(tool_calls=[ScriptedToolCall("get_weather", {"city": "Pune"})]),
        "It is 31 degrees in Pune.",
    ], token_delay_secs=0.02)

    def echo(context: LLMContext) -> str:
        return f"You said: {context.messages[-1]['content']}"
    llm = ScriptedLLMService(rule=echo)
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import re
from collections import deque
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field

from vani.frames import FunctionCallFromLLM, JSONObject, JSONValue
from vani.processors.aggregators.llm_context import LLMContext
from vani.services.llm.base import (
    LLMEvent,
    LLMFinish,
    LLMService,
    LLMTextChunk,
    LLMToolCalls,
    LLMUsage,
)

__all__ = ["ScriptRule", "ScriptedLLMService", "ScriptedToolCall", "ScriptedTurn"]

logger = logging.getLogger(__name__)

_TOKEN_RE = re.compile(r"\s*\S+")


@dataclass(frozen=True, slots=True)
class ScriptedToolCall:
    """A tool call the scripted LLM makes. ``arguments``: an object, or a raw (even invalid)
    JSON string. ``id`` defaults to ``call_<n>``, unique per service."""

    name: str
    arguments: JSONObject | str = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True, slots=True)
class ScriptedTurn:
    """One LLM response: text (a string split into word tokens, or the tokens themselves),
    then tool calls."""

    text: str | Sequence[str] = ""
    tool_calls: Sequence[ScriptedToolCall] = ()


ScriptRule = Callable[[LLMContext], "ScriptedTurn | str | None"]


class ScriptedLLMService(LLMService):
    """An LLM that answers from a script (see the module docstring).

    ``turns`` are used in order, one per LLM run; then ``rule`` (if given) is called with the
    context; past both, the response is empty. ``first_token_delay_secs`` and
    ``token_delay_secs`` pace the stream (seconds). ``requests`` records the messages (a deep
    copy) and the tool choice of every run, like the fake server's request log.
    """

    def __init__(
        self,
        turns: Sequence[ScriptedTurn | str] = (),
        *,
        rule: ScriptRule | None = None,
        first_token_delay_secs: float = 0.0,
        token_delay_secs: float = 0.0,
        model: str = "scripted",
        max_tool_rounds: int = 5,
        **kwargs: object,
    ) -> None:
        super().__init__(model=model, max_tool_rounds=max_tool_rounds, **kwargs)
        self._turns: deque[ScriptedTurn | str] = deque(turns)
        self._rule = rule
        self._first_delay = first_token_delay_secs
        self._token_delay = token_delay_secs
        self._next_call_id = 0
        self.requests: list[tuple[list[JSONObject], JSONValue]] = []
        #: The names of the tools offered in each request, beside ``requests``.
        self.request_tools: list[list[str]] = []
        #: The service's settings (``model``, and what ``update_settings`` was given) at each
        #: request, beside ``requests``.
        self.request_settings: list[dict[str, JSONValue]] = []

    def add_turns(self, *turns: ScriptedTurn | str) -> None:
        """Queue more scripted turns."""
        self._turns.extend(turns)

    @property
    def pending_turns(self) -> int:
        return len(self._turns)

    def _next_turn(self, context: LLMContext) -> ScriptedTurn:
        turn: ScriptedTurn | str | None = None
        if self._turns:
            turn = self._turns.popleft()
        elif self._rule is not None:
            turn = self._rule(context)
        else:
            logger.warning("%s: the script has no turn left; answering with nothing", self)
        if turn is None:
            return ScriptedTurn()
        return ScriptedTurn(turn) if isinstance(turn, str) else turn

    async def _stream(
        self, context: LLMContext, tool_choice: JSONValue
    ) -> AsyncGenerator[LLMEvent, None]:
        choice = tool_choice if tool_choice is not None else context.tool_choice
        self.requests.append((copy.deepcopy(context.messages), choice))
        self.request_tools.append([tool.name for tool in context.tools])
        self.request_settings.append(dict(self.settings))
        turn = self._next_turn(context)
        tokens = _TOKEN_RE.findall(turn.text) if isinstance(turn.text, str) else list(turn.text)
        if self._first_delay:
            await asyncio.sleep(self._first_delay)
        for i, token in enumerate(tokens):
            if i and self._token_delay:
                await asyncio.sleep(self._token_delay)
            yield LLMTextChunk(token)
        calls = []
        for scripted in turn.tool_calls if choice != "none" else ():
            self._next_call_id += 1
            arguments = scripted.arguments
            calls.append(
                FunctionCallFromLLM(
                    function_name=scripted.name,
                    tool_call_id=scripted.id or f"call_{self._next_call_id}",
                    arguments=arguments
                    if isinstance(arguments, str)
                    else json.dumps(arguments, ensure_ascii=False),
                )
            )
        if calls:
            yield LLMToolCalls(tuple(calls))
        yield LLMFinish("tool_calls" if calls else "stop")
        prompt = sum(len(json.dumps(m)) for m in context.messages) // 4
        completion = len(tokens) + len(calls)
        yield LLMUsage(prompt, completion, prompt + completion)
