"""An insurance quote with context strategies: a Pipecat Flows program moved to vani by its
imports.

Ported from the structure of Pipecat Flows' "insurance quote" example: a default context
strategy given to the ``FlowManager`` (``ContextStrategyConfig``), a node that resets the
conversation to an LLM-written summary before quoting, the older ``role_messages`` form, and a
node that waits for the caller (``respond_immediately=False``).

Nodes: initial (age) -> marital_status -> quote_calculation -> quote_results -> end.
"""

from __future__ import annotations

from collections.abc import Sequence

from vani.dhara import (
    ContextStrategy,
    ContextStrategyConfig,
    FlowArgs,
    FlowManager,
    FlowResult,
    FlowsFunctionSchema,
    NodeConfig,
)
from vani.pipeline import Pipeline, PipelineRunner, PipelineTask
from vani.processors import FrameProcessor
from vani.processors.aggregators import LLMContext, LLMContextAggregatorPair
from vani.services.llm import LLMService

SUMMARY_PROMPT = "Summarise the caller's age, marital status and what they asked for."


def monthly_premium(age: int, married: bool, coverage: int, deductible: int) -> int:
    """A made-up premium: older and single costs more, a higher deductible costs less."""
    base = 1500 if age < 25 else 1100 if age < 60 else 1900
    base = base * 9 // 10 if married else base
    return base * coverage // 500_000 - deductible // 100


async def record_age(args: FlowArgs, flow_manager: FlowManager) -> tuple[FlowResult, NodeConfig]:
    age = int(str(args["age"]))
    flow_manager.state["age"] = age
    return {"status": "success", "age": age}, create_marital_status_node()


async def record_marital_status(
    args: FlowArgs, flow_manager: FlowManager
) -> tuple[FlowResult, NodeConfig]:
    status = str(args["marital_status"])
    flow_manager.state["married"] = status == "married"
    return {"status": "success", "marital_status": status}, create_quote_calculation_node()


async def calculate_quote(
    args: FlowArgs, flow_manager: FlowManager
) -> tuple[FlowResult, NodeConfig]:
    coverage = int(str(args["coverage"]))
    deductible = int(str(args.get("deductible", 10_000)))
    premium = monthly_premium(
        int(str(flow_manager.state["age"])),
        bool(flow_manager.state["married"]),
        coverage,
        deductible,
    )
    flow_manager.state["quote"] = {"premium": premium, "coverage": coverage}
    result = {"status": "success", "monthly_premium": premium, "coverage": coverage}
    return result, create_quote_results_node()  # type: ignore[return-value]


async def end_quote(args: FlowArgs, flow_manager: FlowManager) -> tuple[None, NodeConfig]:
    return None, create_end_node()


record_age_func = FlowsFunctionSchema(
    name="record_age",
    description="Record the caller's age.",
    properties={"age": {"type": "integer", "minimum": 18, "maximum": 100}},
    required=["age"],
    handler=record_age,
)
record_marital_status_func = FlowsFunctionSchema(
    name="record_marital_status",
    description="Record whether the caller is married or single.",
    properties={"marital_status": {"type": "string", "enum": ["single", "married"]}},
    required=["marital_status"],
    handler=record_marital_status,
)
calculate_quote_func = FlowsFunctionSchema(
    name="calculate_quote",
    description="Work out the monthly premium for a coverage amount and deductible.",
    properties={
        "coverage": {"type": "integer", "description": "Coverage in rupees."},
        "deductible": {"type": "integer", "description": "Deductible in rupees."},
    },
    required=["coverage"],
    handler=calculate_quote,
)
end_quote_func = FlowsFunctionSchema(
    name="end_quote",
    description="The caller is done with the quote.",
    properties={},
    required=[],
    handler=end_quote,
)


def create_initial_node() -> NodeConfig:
    return {
        "name": "initial",
        "role_messages": [
            {
                "role": "system",
                "content": "You are Meera, who quotes health insurance for Vani Insurance. "
                "Speak plainly and briefly; never promise cover you were not told about.",
            }
        ],
        "task_messages": [
            {"role": "developer", "content": "Greet the caller and ask for their age."}
        ],
        "functions": [record_age_func],
    }


def create_marital_status_node() -> NodeConfig:
    return {
        "name": "marital_status",
        "task_messages": [
            {"role": "developer", "content": "Ask whether they are married or single."}
        ],
        "functions": [record_marital_status_func],
    }


def create_quote_calculation_node() -> NodeConfig:
    return {
        "name": "quote_calculation",
        "task_messages": [
            {
                "role": "developer",
                "content": "Ask how much cover they want (5 to 20 lakh rupees) and what "
                "deductible, then calculate the quote.",
            }
        ],
        "functions": [calculate_quote_func],
        "context_strategy": ContextStrategyConfig(
            strategy=ContextStrategy.RESET_WITH_SUMMARY, summary_prompt=SUMMARY_PROMPT
        ),
    }


def create_quote_results_node() -> NodeConfig:
    return {
        "name": "quote_results",
        "task_messages": [
            {
                "role": "developer",
                "content": "Give the monthly premium of {{quote.premium}} rupees for cover of "
                "{{quote.coverage}} rupees. Offer to recalculate with other amounts.",
            }
        ],
        "functions": [calculate_quote_func, end_quote_func],
    }


def create_end_node() -> NodeConfig:
    return {
        "name": "end",
        "task_messages": [{"role": "developer", "content": "Thank the caller and say goodbye."}],
        "context_strategy": ContextStrategyConfig(strategy=ContextStrategy.RESET),
        "post_actions": [{"type": "end_conversation"}],
    }


CONTEXT_STRATEGY = ContextStrategyConfig(strategy=ContextStrategy.APPEND)


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
        context_strategy=CONTEXT_STRATEGY,
    )

    @task.event_handler("on_pipeline_started")
    async def on_started(task: PipelineTask, frame: object) -> None:
        await flow_manager.initialize(create_initial_node())

    await PipelineRunner(handle_sigint=False).run(task)
