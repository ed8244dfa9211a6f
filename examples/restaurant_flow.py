"""A Dhara flow for a pizzeria: greet, take the order, confirm it, end the call.

The flow is defined twice, identically: in Python (:func:`build_flow`) and in
``restaurant_flow.json`` next to this file. ``get_menu`` is a *data* handler: the LLM gets a
one-line summary while the full menu travels downstream in a ``FunctionCallDataFrame`` (for a UI
or logs) and never reaches the LLM.

Run it offline — a scripted caller talks to a scripted LLM, no key and no network::

    python examples/restaurant_flow.py            # the flow built in Python
    python examples/restaurant_flow.py --json     # the same flow loaded from the JSON file

or with OpenAI (or any compatible server), typing the caller's lines::

    OPENAI_API_KEY=sk-... python examples/restaurant_flow.py --openai [--model gpt-4o-mini]
                                                               [--base-url http://127.0.0.1:11434/v1]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from vani.dhara import Action, ContextStrategy, Flow, FlowFunction, FlowManager, Node
from vani.dhara.model import FlowHandler
from vani.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndFrame,
    FlowTransitionFrame,
    Frame,
    FrameDirection,
    FunctionCallDataFrame,
    JSONObject,
    JSONValue,
    LLMFullResponseEndFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from vani.pipeline import Pipeline, PipelineRunner, PipelineTask
from vani.processors import FrameProcessor
from vani.processors.aggregators import LLMContext, LLMContextAggregatorPair
from vani.services.llm import (
    LLMService,
    ScriptedLLMService,
    ScriptedToolCall,
    ScriptedTurn,
    ToolResult,
)

FLOW_JSON = Path(__file__).with_name("restaurant_flow.json")

SIZES: dict[str, int] = {"small": 199, "medium": 299, "large": 399}
TOPPINGS: dict[str, int] = {
    "mushroom": 40,
    "olive": 40,
    "onion": 30,
    "paneer": 60,
    "pepper": 30,
    "corn": 30,
    "jalapeño": 40,
    "tomato": 30,
}
MENU: JSONObject = {"sizes": dict(SIZES), "toppings": dict(TOPPINGS), "currency": "INR"}

# -- handlers ---------------------------------------------------------------------------------


async def get_opening_hours(args: dict[str, object]) -> str:
    """A simple handler that never moves the flow (offered in every node)."""
    return "Open every day from 11 am to 11 pm."


async def get_menu(args: dict[str, object], flow_manager: FlowManager) -> ToolResult:
    """A data handler: a summary for the LLM, the full menu for the UI only."""
    sizes = ", ".join(SIZES)
    toppings = ", ".join(TOPPINGS)
    summary = f"Sizes: {sizes} (from 199 rupees). Toppings: {toppings} (30 to 60 rupees each)."
    return ToolResult(summary=summary, data=MENU)


async def record_order(args: dict[str, object], flow_manager: FlowManager) -> dict[str, object]:
    """Store the order in the flow state (the confirm prompt reads it) and price it."""
    size = str(args.get("size", "medium"))
    raw = args.get("toppings", [])
    toppings = [str(t) for t in raw] if isinstance(raw, list) else []
    total = SIZES.get(size, 299) + sum(TOPPINGS.get(t, 40) for t in toppings)
    flow_manager.state.update(size=size, toppings=toppings or ["cheese only"], total=total)
    return {"recorded": True, "total": total}


async def confirm_order(args: dict[str, object]) -> dict[str, object]:
    """``transition_to`` maps the ``confirmed`` value of this result to the next node."""
    return {"confirmed": bool(args.get("confirmed"))}


HANDLERS: dict[str, FlowHandler] = {
    "get_opening_hours": get_opening_hours,
    "get_menu": get_menu,
    "record_order": record_order,
    "confirm_order": confirm_order,
}

# -- the flow, in Python ----------------------------------------------------------------------


def _system(text: str) -> dict[str, object]:
    return {"role": "system", "content": text}


def build_flow() -> Flow:
    """The same flow as ``restaurant_flow.json``."""
    return Flow(
        initial_node="greet",
        role_message=(
            "You are Ravi, the voice of Pizzeria Dhara, on a phone call. Speak in one or two "
            "short sentences; no lists, no emoji, no markdown."
        ),
        global_functions=[
            FlowFunction(
                name="get_opening_hours",
                description="Tell the caller when the pizzeria is open.",
                handler="get_opening_hours",
            )
        ],
        nodes=[
            Node(
                name="greet",
                task_messages=[
                    _system(  # type: ignore[list-item]
                        "Greet the caller and ask whether they would like to order a pizza. "
                        "When they want to order, call start_order."
                    )
                ],
                functions=[
                    FlowFunction(
                        name="start_order",
                        description="The caller wants to order a pizza.",
                        transition_to="order",
                    )
                ],
            ),
            Node(
                name="order",
                task_messages=[
                    _system(  # type: ignore[list-item]
                        "Take the order: one pizza, its size (small, medium or large) and its "
                        "toppings. Call get_menu when the caller asks what there is. When you "
                        "know the size and the toppings, call record_order."
                    )
                ],
                functions=[
                    FlowFunction(
                        name="get_menu",
                        description="The sizes and toppings on offer, with prices.",
                        handler="get_menu",
                    ),
                    FlowFunction(
                        name="record_order",
                        description="Record the size and toppings the caller chose.",
                        parameters={
                            "type": "object",
                            "properties": {
                                "size": {"type": "string", "enum": ["small", "medium", "large"]},
                                "toppings": {"type": "array", "items": {"type": "string"}},
                            },
                            "required": ["size", "toppings"],
                        },
                        handler="record_order",
                        transition_to="confirm",
                    ),
                ],
            ),
            Node(
                name="confirm",
                task_messages=[
                    _system(  # type: ignore[list-item]
                        "Read the order back: a {{size}} pizza with {{toppings}}, {{total}} "
                        "rupees. Ask the caller to confirm, then call confirm_order with their "
                        "answer."
                    )
                ],
                context_strategy=ContextStrategy.reset_with_summary(
                    "In two sentences, summarise what the caller ordered and anything they "
                    "asked for."
                ),
                functions=[
                    FlowFunction(
                        name="confirm_order",
                        description=(
                            "The caller confirmed the order (true) or wants to change it (false)."
                        ),
                        parameters={
                            "type": "object",
                            "properties": {"confirmed": {"type": "boolean"}},
                            "required": ["confirmed"],
                        },
                        handler="confirm_order",
                        transition_to={"true": "end", "false": "order"},
                        transition_key="confirmed",
                    )
                ],
            ),
            Node(
                name="end",
                task_messages=[
                    _system(  # type: ignore[list-item]
                        "Thank the caller and tell them their pizza will be ready in 20 minutes."
                    )
                ],
                context_strategy=ContextStrategy.reset(),
                post_actions=[Action.end_conversation()],
            ),
        ],
    )


# -- an offline caller and LLM ----------------------------------------------------------------

CALLER_LINES = (
    "Hi! Yes, I'd like to order a pizza.",
    "What's on the menu?",
    "A large one with mushroom and olive, please.",
    "Yes, that's right.",
)


def scripted_llm(flow_manager_ref: list[FlowManager]) -> ScriptedLLMService:
    """A rule-based stand-in for the LLM that follows the flow's prompts deterministically."""

    def rule(context: LLMContext) -> ScriptedTurn | str:
        messages = context.messages
        first = str(messages[1].get("content", "")) if len(messages) > 1 else ""
        if first.startswith("The conversation:"):
            return (
                "The caller asked for the menu, then ordered a large pizza with mushroom and olive."
            )
        node = flow_manager_ref[0].current_node
        last = messages[-1]
        said = str(last.get("content", "")).lower() if last.get("role") == "user" else ""
        if node == "greet":
            if said:
                return ScriptedTurn(tool_calls=[ScriptedToolCall("start_order")])
            return "Hello, this is Pizzeria Dhara! Would you like to order a pizza?"
        if node == "order":
            if "menu" in said:
                return ScriptedTurn(tool_calls=[ScriptedToolCall("get_menu")])
            if said:
                size = next((s for s in ("small", "medium", "large") if s in said), "medium")
                chosen: list[JSONValue] = [t for t in TOPPINGS if t in said]
                call = ScriptedToolCall("record_order", {"size": size, "toppings": chosen})
                return ScriptedTurn(tool_calls=[call])
            if last.get("role") == "tool":
                return "We have small, medium and large, with eight toppings. What would you like?"
            return "Great! What size would you like, and which toppings?"
        if node == "confirm":
            if said:
                confirmed = any(w in said for w in ("yes", "right", "correct"))
                return ScriptedTurn(
                    tool_calls=[ScriptedToolCall("confirm_order", {"confirmed": confirmed})]
                )
            state = flow_manager_ref[0].state
            listed = state.get("toppings")
            names = " and ".join(listed) if isinstance(listed, list) else "cheese"
            return (
                f"That's a {state.get('size')} pizza with {names}, {state.get('total')} "
                "rupees. Shall I place the order?"
            )
        return "Thank you! Your pizza will be ready in 20 minutes. Goodbye!"

    return ScriptedLLMService(rule=rule)


class ConsoleOutput(FrameProcessor):
    """Prints what the bot says and acts like an output transport: BotStarted/Stopped-
    SpeakingFrame around each reply (which is when post-actions run)."""

    def __init__(self, *, show_transitions: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._text: list[str] = []
        self._speaking = False
        self._show_transitions = show_transitions
        self.transcript: list[str] = []
        self.turn_done = asyncio.Event()

    async def _say(self, text: str) -> None:
        if not self._speaking:
            self._speaking = True
            await self.push_frame(BotStartedSpeakingFrame(), FrameDirection.UPSTREAM)
        self.transcript.append(f"bot: {text}")
        print(f"  bot: {text}")

    async def _stop(self) -> None:
        if self._speaking:
            self._speaking = False
            await self.push_frame(BotStoppedSpeakingFrame(), FrameDirection.UPSTREAM)
            self.turn_done.set()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMTextFrame):
            self._text.append(frame.text)
        elif isinstance(frame, LLMFullResponseEndFrame):
            text = "".join(self._text).strip()
            self._text.clear()
            if text:
                await self._say(text)
            await self._stop()
        elif isinstance(frame, TTSSpeakFrame):
            await self._say(frame.text)
        elif isinstance(frame, FlowTransitionFrame):
            self.transcript.append(f"-> {frame.to_node}")
            if self._show_transitions:
                print(f"  [flow: {frame.from_node} -> {frame.to_node}]")
        elif isinstance(frame, FunctionCallDataFrame):
            self.transcript.append(f"data: {frame.function_name}")
        await self.push_frame(frame, direction)


async def run(
    *,
    llm: LLMService,
    flow: Flow | Path,
    caller_lines: Sequence[str] | None,
    flow_manager_ref: list[FlowManager] | None = None,
) -> ConsoleOutput:
    """Run one call. ``caller_lines`` None reads the caller's lines from stdin."""
    context = LLMContext()
    aggregators = LLMContextAggregatorPair(context)
    output = ConsoleOutput()
    task = PipelineTask(
        Pipeline([aggregators.user(), llm, output, aggregators.assistant()]),
        idle_timeout_secs=None,
    )
    flow_manager = FlowManager(
        task=task, llm=llm, context_aggregator=aggregators, flow=flow, handlers=HANDLERS
    )
    if flow_manager_ref is not None:
        flow_manager_ref.append(flow_manager)

    async def caller() -> None:
        await flow_manager.initialize()
        lines = iter(caller_lines) if caller_lines is not None else None
        while not task.finished:
            await output.turn_done.wait()
            output.turn_done.clear()
            if flow_manager.current_node == "end":
                return  # the end node's post-action hangs up
            if lines is not None:
                line = next(lines, None)
            else:
                line = await asyncio.to_thread(_read_line)
            if line is None:
                await task.queue_frame(EndFrame())
                return
            print(f"caller: {line}")
            output.transcript.append(f"caller: {line}")
            await task.queue_frames(
                [
                    UserStartedSpeakingFrame(),
                    TranscriptionFrame(text=line, user_id="caller", timestamp=""),
                    UserStoppedSpeakingFrame(),
                ]
            )

    @task.event_handler("on_pipeline_started")
    async def on_started(task: PipelineTask, frame: Frame) -> None:
        started.set()

    started = asyncio.Event()
    runner = asyncio.create_task(PipelineRunner(handle_sigint=False).run(task))
    await started.wait()
    driver = asyncio.create_task(caller())
    await runner
    driver.cancel()
    await asyncio.gather(driver, return_exceptions=True)
    return output


def _read_line() -> str | None:
    try:
        line = input("caller> ").strip()
    except EOFError:
        return None
    return line or None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="load the flow from the JSON file")
    parser.add_argument("--openai", action="store_true", help="use OpenAI; type the caller")
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--base-url", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    flow: Flow | Path = FLOW_JSON if args.json else build_flow()
    ref: list[FlowManager] = []
    if args.openai:
        from vani.services.openai import OpenAILLMService

        if not os.environ.get("OPENAI_API_KEY") and args.base_url is None:
            print("set OPENAI_API_KEY (or pass --base-url for a local server)", file=sys.stderr)
            return 2
        llm: LLMService = OpenAILLMService(
            api_key=os.environ.get("OPENAI_API_KEY", "none"),
            model=args.model,
            base_url=args.base_url,
        )
        asyncio.run(run(llm=llm, flow=flow, caller_lines=None, flow_manager_ref=ref))
    else:
        llm = scripted_llm(ref)
        asyncio.run(run(llm=llm, flow=flow, caller_lines=CALLER_LINES, flow_manager_ref=ref))
    return 0


if __name__ == "__main__":
    sys.exit(main())
