"""Aggregators: processors that gather frames into larger units (turns, replies, context)."""

from vani.processors.aggregators.llm_context import LLMContext

__all__ = ["LLMContext"]
