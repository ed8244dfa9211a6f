"""The summary written for ``reset_with_summary``: the conversation as a short transcript, sent
to the LLM service out of band (no frame is pushed, nothing enters the shared context)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vani.errors import FlowError
from vani.frames import JSONObject

if TYPE_CHECKING:
    from vani.services.llm.base import LLMService

__all__ = ["llm_summary", "transcript"]


async def llm_summary(llm: LLMService, messages: list[JSONObject], prompt: str) -> str:
    """Ask ``llm`` for a summary of ``messages`` out of band: no frame is pushed."""
    from vani.processors.aggregators.llm_context import LLMContext
    from vani.services.llm.base import LLMTextChunk

    request = LLMContext(
        messages=[
            {"role": "system", "content": prompt},
            {"role": "user", "content": "The conversation:\n" + transcript(messages)},
        ]
    )
    run = getattr(llm, "run_inference", None)
    if callable(run):
        return str(await run(request))
    text: list[str] = []
    stream = llm._stream(request, "none")
    try:
        async for event in stream:
            if isinstance(event, LLMTextChunk):
                text.append(event.text)
    finally:
        await stream.aclose()
    summary = "".join(text).strip()
    if not summary:
        raise FlowError("the LLM returned an empty summary")
    return summary


def transcript(messages: list[JSONObject]) -> str:
    """One line per user/assistant message, tool call and finished tool result (system
    messages are left out: they are the flow's own prompts)."""
    from vani.processors.aggregators.llm_context import TOOL_CALL_IN_PROGRESS

    lines: list[str] = []
    for message in messages:
        role = message.get("role")
        content = message.get("content")
        if role == "system":
            continue
        if isinstance(content, str) and content and content != TOOL_CALL_IN_PROGRESS:
            lines.append(f"{'tool result' if role == 'tool' else role}: {content}")
        calls = message.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                lines.append(
                    f"assistant called {function.get('name')}({function.get('arguments')})"
                )
    return "\n".join(lines)
