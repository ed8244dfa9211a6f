"""The database tool's error: a short message the LLM can act on. See ``docs/database.md``."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from vani.errors import FunctionCallError

__all__ = ["DatabaseToolError", "did_you_mean"]


class DatabaseToolError(FunctionCallError):
    """A request the tool refused or the database could not answer.

    The message is what the LLM reads: lowercase, naming the bad value and what is expected,
    never SQL text or a stack trace.
    """


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'email'?"`` when a candidate is close to ``word``, else the choices."""
    options = sorted(set(candidates))
    if len(word) > 64:  # no name is that long; comparing would only cost time
        return ""
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    if len(options) <= 12:
        return f"; expected one of {', '.join(options)}"
    return ""
