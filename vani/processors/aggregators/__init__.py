"""Aggregators: processors that gather frames into larger units (turns, replies, context)."""

from vani.processors.aggregators.dtmf import DTMFAggregator
from vani.processors.aggregators.function_schema import FunctionSchema, ToolsSchema
from vani.processors.aggregators.llm_context import LLMContext
from vani.processors.aggregators.llm_response import (
    LLMAssistantContextAggregator,
    LLMContextAggregatorPair,
    LLMUserContextAggregator,
)

__all__ = [
    "DTMFAggregator",
    "FunctionSchema",
    "LLMAssistantContextAggregator",
    "LLMContext",
    "LLMContextAggregatorPair",
    "LLMUserContextAggregator",
    "ToolsSchema",
]
