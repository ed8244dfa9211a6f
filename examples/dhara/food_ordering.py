"""Food ordering with FlowsFunctionSchema, pre/post actions and a global function: a Pipecat
Flows program moved to vani by its imports.

Ported from the structure of Pipecat Flows' "food ordering" example: functions are
``FlowsFunctionSchema`` objects whose handlers take ``(args, flow_manager)`` and return
``(result, next NodeConfig)``; nodes announce themselves with ``tts_say`` pre-actions; the end
node hangs up with an ``end_conversation`` post-action; ``check_hours`` is offered in every node
through ``FlowManager(global_functions=...)``.

Nodes: initial -> choose_pizza | choose_sushi -> confirm -> end (or back to initial).
"""

from __future__ import annotations

from collections.abc import Sequence

from vani.dhara import FlowArgs, FlowManager, FlowResult, FlowsFunctionSchema, NodeConfig
from vani.pipeline import Pipeline, PipelineRunner, PipelineTask
from vani.processors import FrameProcessor
from vani.processors.aggregators import LLMContext, LLMContextAggregatorPair
from vani.services.llm import LLMService

PIZZA_PRICES = {"small": 249, "medium": 349, "large": 449}
SUSHI_PRICE_PER_ROLL = 180


async def check_hours(flow_manager: FlowManager) -> tuple[FlowResult, None]:
    """Tell the caller when the kitchen is open."""
    return {"status": "success", "hours": "11 AM to 11 PM, every day"}, None


# -- handlers ---------------------------------------------------------------------------------


async def choose_pizza(args: FlowArgs, flow_manager: FlowManager) -> tuple[None, NodeConfig]:
    return None, create_pizza_node()


async def choose_sushi(args: FlowArgs, flow_manager: FlowManager) -> tuple[None, NodeConfig]:
    return None, create_sushi_node()


async def select_pizza_order(
    args: FlowArgs, flow_manager: FlowManager
) -> tuple[FlowResult, NodeConfig]:
    size = str(args["size"])
    pizza_type = str(args["type"])
    price = PIZZA_PRICES[size]
    flow_manager.state["order"] = {"item": f"{size} {pizza_type} pizza", "price": price}
    return {"status": "success", "size": size, "type": pizza_type}, create_confirm_node()


async def select_sushi_order(
    args: FlowArgs, flow_manager: FlowManager
) -> tuple[FlowResult, NodeConfig]:
    count = int(str(args["count"]))
    sushi_type = str(args["type"])
    price = count * SUSHI_PRICE_PER_ROLL
    flow_manager.state["order"] = {"item": f"{count} {sushi_type} rolls", "price": price}
    return {"status": "success", "count": count, "type": sushi_type}, create_confirm_node()


async def complete_order(args: FlowArgs, flow_manager: FlowManager) -> tuple[None, NodeConfig]:
    return None, create_end_node()


async def revise_order(args: FlowArgs, flow_manager: FlowManager) -> tuple[None, NodeConfig]:
    flow_manager.state.pop("order", None)
    return None, create_initial_node()


# -- schemas ----------------------------------------------------------------------------------

choose_pizza_func = FlowsFunctionSchema(
    name="choose_pizza",
    description="The caller wants pizza.",
    properties={},
    required=[],
    handler=choose_pizza,
)
choose_sushi_func = FlowsFunctionSchema(
    name="choose_sushi",
    description="The caller wants sushi.",
    properties={},
    required=[],
    handler=choose_sushi,
)
select_pizza_order_func = FlowsFunctionSchema(
    name="select_pizza_order",
    description="Record the pizza size and kind.",
    properties={
        "size": {"type": "string", "enum": ["small", "medium", "large"]},
        "type": {"type": "string", "enum": ["margherita", "farmhouse", "paneer tikka"]},
    },
    required=["size", "type"],
    handler=select_pizza_order,
)
select_sushi_order_func = FlowsFunctionSchema(
    name="select_sushi_order",
    description="Record how many rolls and which kind.",
    properties={
        "count": {"type": "integer", "minimum": 1, "maximum": 10},
        "type": {"type": "string", "enum": ["cucumber", "avocado", "salmon"]},
    },
    required=["count", "type"],
    handler=select_sushi_order,
)
complete_order_func = FlowsFunctionSchema(
    name="complete_order",
    description="The caller confirmed the order.",
    properties={},
    required=[],
    handler=complete_order,
)
revise_order_func = FlowsFunctionSchema(
    name="revise_order",
    description="The caller wants to change the order.",
    properties={},
    required=[],
    handler=revise_order,
)

GLOBAL_FUNCTIONS = [check_hours]


# -- nodes ------------------------------------------------------------------------------------


def create_initial_node() -> NodeConfig:
    return {
        "name": "initial",
        "role_message": "You take food orders on the phone for Vani Kitchen. Keep answers "
        "short and spoken; no lists or symbols.",
        "task_messages": [
            {
                "role": "developer",
                "content": "Ask whether the caller would like pizza or sushi today.",
            }
        ],
        "functions": [choose_pizza_func, choose_sushi_func],
    }


def create_pizza_node() -> NodeConfig:
    return {
        "name": "choose_pizza",
        "task_messages": [
            {
                "role": "developer",
                "content": "Take the pizza order: small 249, medium 349, large 449 rupees. "
                "Kinds: margherita, farmhouse, paneer tikka. Ask for size and kind.",
            }
        ],
        "functions": [select_pizza_order_func],
        "pre_actions": [{"type": "tts_say", "text": "Pizza it is!"}],
    }


def create_sushi_node() -> NodeConfig:
    return {
        "name": "choose_sushi",
        "task_messages": [
            {
                "role": "developer",
                "content": "Take the sushi order: 180 rupees a roll. Kinds: cucumber, "
                "avocado, salmon. Ask how many rolls and which kind.",
            }
        ],
        "functions": [select_sushi_order_func],
        "pre_actions": [{"type": "tts_say", "text": "Sushi, lovely."}],
    }


def create_confirm_node() -> NodeConfig:
    return {
        "name": "confirm",
        "task_messages": [
            {
                "role": "developer",
                "content": "Read the order back with its price: {{order.item}}, "
                "{{order.price}} rupees. Ask whether it is right.",
            }
        ],
        "functions": [complete_order_func, revise_order_func],
    }


def create_end_node() -> NodeConfig:
    return {
        "name": "end",
        "task_messages": [
            {"role": "developer", "content": "Thank the caller; the food is on its way."}
        ],
        "post_actions": [{"type": "end_conversation"}],
    }


async def run_bot(
    llm: LLMService,
    *,
    input_side: Sequence[FrameProcessor] = (),
    output_side: Sequence[FrameProcessor] = (),
) -> None:
    """The bot: ``input_side`` (transport input, STT), the LLM, ``output_side`` (TTS, output)."""
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
    flow_manager = FlowManager(
        task=task,
        llm=llm,
        context_aggregator=context_aggregator,
        global_functions=GLOBAL_FUNCTIONS,
    )

    @task.event_handler("on_pipeline_started")
    async def on_started(task: PipelineTask, frame: object) -> None:
        await flow_manager.initialize(create_initial_node())

    await PipelineRunner(handle_sigint=False).run(task)
