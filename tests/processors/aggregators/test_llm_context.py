"""LLMContext: messages, tools, tool-call placeholders, and replies cut by an interruption."""

from __future__ import annotations

from vani.frames import FunctionCallFromLLM
from vani.processors.aggregators import FunctionSchema, LLMContext
from vani.processors.aggregators.llm_context import TOOL_CALL_IN_PROGRESS
from vani.testing.fake_openai import check_messages

CALLS = [FunctionCallFromLLM("f", "c1", "{}"), FunctionCallFromLLM("g", "c2", '{"x": 1}')]


def test_tool_calls_are_valid_history_at_once_and_results_fill_their_placeholders() -> None:
    context = LLMContext(messages=[{"role": "user", "content": "hi"}])
    context.add_tool_calls(CALLS, content="Checking.")
    assert check_messages(context.messages) is None
    assert [m.get("content") for m in context.messages[2:]] == [TOOL_CALL_IN_PROGRESS] * 2
    assert context.set_tool_result("c2", "two") and context.set_tool_result("c1", "one")
    assert [m["content"] for m in context.messages[2:]] == ["one", "two"]
    assert not context.set_tool_result("nope", "x")
    assert context.messages[1]["tool_calls"][1]["function"]["arguments"] == '{"x": 1}'  # type: ignore[index]


def test_get_messages_is_a_deep_copy() -> None:
    context = LLMContext(messages=[{"role": "user", "content": "hi"}])
    copy = context.get_messages()
    copy[0]["content"] = "changed"
    assert context.messages[0]["content"] == "hi"


def test_tools_and_tool_choice_for_requests() -> None:
    context = LLMContext(tools=[FunctionSchema(name="f")], tool_choice="required")
    assert context.tools_for_request() == [
        {
            "type": "function",
            "function": {
                "name": "f",
                "description": "",
                "parameters": {"type": "object", "properties": {}, "required": []},
            },
        }
    ]
    context.set_tools(None)
    context.set_tool_choice("none")
    assert context.tools_for_request() == [] and context.tool_choice == "none"


def tracked() -> LLMContext:
    context = LLMContext(messages=[{"role": "user", "content": "hi"}])
    context.track_responses = True
    return context


def test_a_reply_cut_before_it_was_written_is_written_as_heard() -> None:
    context = tracked()
    context.begin_response(1)
    context.cut_response(1, "Hello")
    context.write_response(1, "Hello there, how are you?", ())
    assert context.messages[-1] == {"role": "assistant", "content": "Hello"}
    assert context.open_responses() == []


def test_a_reply_cut_after_it_was_written_is_trimmed_or_removed() -> None:
    context = tracked()
    context.begin_response(1)
    context.write_response(1, "Hello there", ())
    context.begin_response(2)
    context.write_response(2, "Second reply", ())
    assert context.open_responses() == [1, 2]
    context.cut_response(1, "Hello")
    context.cut_response(2, "")
    assert context.messages[1:] == [{"role": "assistant", "content": "Hello"}]


def test_a_cut_tool_call_reply_keeps_its_calls_and_the_history_stays_valid() -> None:
    context = tracked()
    context.begin_response(1)
    context.write_response(1, "Let me check", CALLS)
    context.cut_response(1, "")
    assert context.messages[1]["content"] is None and context.messages[1]["tool_calls"]
    assert check_messages(context.messages) is None


def test_a_played_reply_is_never_cut_and_untracked_contexts_keep_everything() -> None:
    context = tracked()
    context.begin_response(1)
    context.write_response(1, "All of it", ())
    context.response_played(1)
    context.cut_response(1, "All")
    assert context.messages[-1]["content"] == "All of it"
    plain = LLMContext()
    plain.begin_response(5)
    plain.write_response(5, "kept", ())
    plain.cut_response(5, "")
    assert plain.messages == [{"role": "assistant", "content": "kept"}]
