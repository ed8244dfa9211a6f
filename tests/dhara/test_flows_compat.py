"""Pieces of Pipecat Flows' current API a program imports or calls: ``NO_RESPONSE``,
``get_current_context()``, ``worker``, and the names imported from ``pipecat.flows``."""

from __future__ import annotations

from tests.dhara.rig import FlowRig
from vani.dhara import (
    NO_RESPONSE,
    FlowError,
    FlowManager,
    FlowsDirectFunction,
    FlowValidationError,
    NodeConfig,
)
from vani.frames import FunctionCallResultFrame
from vani.services.llm import ScriptedLLMService, ScriptedToolCall, ScriptedTurn


async def note(flow_manager: FlowManager, text: str) -> tuple[dict[str, str], object]:
    """Write down what the caller said, without answering it.

    Args:
        text: What to write down.
    """
    flow_manager.state.setdefault("notes", []).append(text)  # type: ignore[union-attr]
    return {"status": "noted"}, NO_RESPONSE


def node() -> NodeConfig:
    return {
        "name": "notes",
        "task_messages": [{"role": "developer", "content": "Take notes."}],
        "functions": [note],
    }


async def test_no_response_stays_in_the_node_and_lets_the_user_speak_next() -> None:
    direct: FlowsDirectFunction = note
    assert callable(direct)
    llm = ScriptedLLMService(
        [
            "Go ahead.",
            ScriptedTurn(tool_calls=[ScriptedToolCall("note", {"text": "milk"})]),
            "Anything else?",
        ]
    )
    async with FlowRig(llm=llm, flow=None) as rig:
        await rig.manager.initialize(node())
        await rig.settle()
        await rig.user_says("Write down milk.")
        await rig.settle()
        # The result is in the context, but the LLM did not answer it.
        assert len(llm.requests) == 2
        results = rig.speaker.of(FunctionCallResultFrame)
        assert [f.run_llm for f in results] == [False]  # type: ignore[attr-defined]
        assert rig.manager.current_node == "notes"
        await rig.user_says("That's all.")
        await rig.settle()
        assert len(llm.requests) == 3
        # Flows' accessors.
        assert rig.manager.worker is rig.task
        context = rig.manager.get_current_context()
        assert context == rig.context.messages and context is not rig.context.messages
    assert rig.manager.state["notes"] == ["milk"]
    tool_messages = [m for m in llm.requests[2][0] if m["role"] == "tool"]
    assert "noted" in str(tool_messages[0]["content"])


def test_flows_error_names_are_importable() -> None:
    assert issubclass(FlowValidationError, FlowError)
