"""LLM services: the shared machinery (:class:`LLMService`), function calling, and a scripted
LLM for offline runs and tests. The OpenAI service is in :mod:`vani.services.openai`."""

from vani.processors.aggregators.function_schema import FunctionSchema, ToolsSchema
from vani.services.llm.base import LLMService
from vani.services.llm.functions import (
    FunctionCallHandler,
    FunctionCallParams,
    FunctionCallResultProperties,
    ToolResult,
)
from vani.services.llm.scripted import ScriptedLLMService, ScriptedToolCall, ScriptedTurn

__all__ = [
    "FunctionCallHandler",
    "FunctionCallParams",
    "FunctionCallResultProperties",
    "FunctionSchema",
    "LLMService",
    "ScriptedLLMService",
    "ScriptedToolCall",
    "ScriptedTurn",
    "ToolResult",
    "ToolsSchema",
]
