"""Table reservations with direct functions: a Pipecat Flows program moved to vani by imports.

Ported from the structure of Pipecat Flows' "restaurant reservation (direct functions)" example:
each function is a plain ``async def f(flow_manager, ...)`` whose docstring and type hints are the
tool the LLM sees, and which returns ``(result, next NodeConfig)``. The only changes from a Flows
program are the imports (``pipecat_flows`` / ``pipecat.flows`` -> ``vani.dhara``, the pipeline's
-> ``vani``'s).

Nodes: initial (party size) -> get_time -> confirm | no_availability -> end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TypedDict

from vani.dhara import FlowManager, NodeConfig
from vani.pipeline import Pipeline, PipelineRunner, PipelineTask
from vani.processors import FrameProcessor
from vani.processors.aggregators import LLMContext, LLMContextAggregatorPair
from vani.services.llm import LLMService

FULLY_BOOKED = {"7:00 PM", "8:00 PM"}
OPENING_TIMES = ["5:00 PM", "6:00 PM", "7:00 PM", "8:00 PM", "9:00 PM", "10:00 PM"]


async def check_table(party_size: int, time: str) -> tuple[bool, list[str]]:
    """A stand-in for the booking system: some evening slots are taken."""
    await asyncio.sleep(0)
    if time not in FULLY_BOOKED:
        return True, []
    return False, [t for t in OPENING_TIMES if t not in FULLY_BOOKED]


class PartySize(TypedDict):
    status: str
    size: int


class TimeCheck(TypedDict):
    status: str
    time: str
    available: bool
    alternative_times: list[str]


async def collect_party_size(flow_manager: FlowManager, size: int) -> tuple[PartySize, NodeConfig]:
    """Record how many people will dine.

    Args:
        size (int): Number of guests, from 1 to 12.
    """
    flow_manager.state["party_size"] = size
    return PartySize(status="success", size=size), create_time_selection_node()


async def check_availability(
    flow_manager: FlowManager, time: str, party_size: int
) -> tuple[TimeCheck, NodeConfig]:
    """Check whether a table is free at the requested time.

    Args:
        time (str): The time asked for, as "H:MM AM/PM", between 5 PM and 10 PM.
        party_size (int): Number of guests.
    """
    available, alternatives = await check_table(party_size, time)
    result = TimeCheck(
        status="success", time=time, available=available, alternative_times=alternatives
    )
    if available:
        flow_manager.state["time"] = time
        return result, create_confirmation_node()
    return result, create_no_availability_node(alternatives)


async def end_conversation(flow_manager: FlowManager) -> tuple[None, NodeConfig]:
    """Finish the call."""
    return None, create_end_node()


def create_initial_node(wait_for_user: bool = False) -> NodeConfig:
    return NodeConfig(
        name="initial",
        role_message=(
            "You take table reservations for Chez Vani, a small bistro. Be warm and brief; "
            "this is a phone call, so no lists, symbols or emojis."
        ),
        task_messages=[
            {
                "role": "developer",
                "content": "Greet the caller and ask how many people the table is for. Do "
                "nothing else yet.",
            }
        ],
        functions=[collect_party_size],
        respond_immediately=not wait_for_user,
    )


def create_time_selection_node() -> NodeConfig:
    return NodeConfig(
        name="get_time",
        task_messages=[
            {
                "role": "developer",
                "content": "Ask what time they would like. We seat guests from 5 PM to 10 PM.",
            }
        ],
        functions=[check_availability],
    )


def create_confirmation_node() -> NodeConfig:
    return NodeConfig(
        name="confirm",
        task_messages=[
            {
                "role": "developer",
                "content": "Confirm the booking and ask whether they need anything else.",
            }
        ],
        functions=[end_conversation],
    )


def create_no_availability_node(alternative_times: list[str]) -> NodeConfig:
    return NodeConfig(
        name="no_availability",
        task_messages=[
            {
                "role": "developer",
                "content": "Say sorry, that time is taken. Offer these times instead: "
                f"{', '.join(alternative_times)}. Ask if one of them suits.",
            }
        ],
        functions=[check_availability, end_conversation],
    )


def create_end_node() -> NodeConfig:
    return NodeConfig(
        name="end",
        task_messages=[{"role": "developer", "content": "Thank the caller and say goodbye."}],
        functions=[],
        post_actions=[{"type": "end_conversation"}],
    )


async def run_bot(
    llm: LLMService,
    *,
    input_side: Sequence[FrameProcessor] = (),
    output_side: Sequence[FrameProcessor] = (),
    wait_for_user: bool = False,
) -> None:
    """The bot: ``input_side`` (transport input, STT), the flow's LLM, ``output_side`` (TTS,
    transport output), as a Flows bot builds it."""
    context = LLMContext()
    context_aggregator = LLMContextAggregatorPair(context)
    task = PipelineTask(
        Pipeline(
            [
                *input_side,
                context_aggregator.user(),
                llm,
                *output_side,
                context_aggregator.assistant(),
            ]
        )
    )
    flow_manager = FlowManager(task=task, llm=llm, context_aggregator=context_aggregator)

    @task.event_handler("on_pipeline_started")
    async def on_started(task: PipelineTask, frame: object) -> None:
        await flow_manager.initialize(create_initial_node(wait_for_user))

    await PipelineRunner(handle_sigint=False).run(task)
